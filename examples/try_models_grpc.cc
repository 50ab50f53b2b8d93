// The same try as try_models.cc, over TBMS's KServe v2 gRPC API.
//   build/example_try_models_grpc [HOST:PORT] [INSTANCE]   (default 127.0.0.1:8001, default)
// Signs with TBMS_ACCESS_ID / TBMS_ACCESS_KEY when they are set (unsigned
// otherwise: a server in --insecure-dev with --grpc-port 8001).
#include <cstdlib>
#include <iostream>

#include "tbms/client/grpc_client.h"

int main(int argc, char** argv) {
  const char* id = std::getenv("TBMS_ACCESS_ID");
  const char* key = std::getenv("TBMS_ACCESS_KEY");

  auto client = tbms::client::GrpcClient::Create({.address = argc > 1 ? argv[1] : "127.0.0.1:8001",
                                                  .access_id = id ? id : "", .access_key = key ? key : "",
                                                  .instance = argc > 2 ? argv[2] : "default"});
  if (!client.ok()) return std::cerr << client.status().ToString() << "\n", 2;
  auto r = (*client)->Try({.question = "what is a broker?",
                           .models = {{"embedding", 35}, {"svm", 25}, {"bayes", 15}, {"keysearch", 5}},
                           .tloc_ms = 50});
  if (!r.ok()) return std::cerr << r.status().ToString() << "\n", 1;
  std::cout << (r->answer ? r->answer_text + " (" + r->model + ")" : "no answer (" + r->reason + ")") << "\n";
  return 0;
}
