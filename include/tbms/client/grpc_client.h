// GrpcClient: tries over a TBMS server's KServe v2 gRPC API (docs/api.md,
// "A try over gRPC"), the REST Client's twin for C++ services that speak
// gRPC: the same TryRequest and TryResult (try.h), every try signed with the
// access key as over REST, on one channel that gRPC keeps connected,
// reconnects and multiplexes.
//
//   auto tbms = tbms::client::GrpcClient::Create({.address = "127.0.0.1:8001",
//       .access_id = "nianjianQA-1", .access_key = key, .instance = "nianjianQA"});
//   if (!tbms.ok()) return Fail(tbms.status());
//   auto r = (*tbms)->Try({.question = "what is a broker?",
//       .models = {{"embedding", 35}, {"svm", 25}, {"bayes", 15}}, .tloc_ms = 50});
//
// Errors: a call's gRPC status as the Status of the same canonical code, its
// message "gRPC CODE: " and the server's; tloc and crossLag are whole
// milliseconds over gRPC (INVALID_ARGUMENT, before anything is sent). No
// answer within tloc is not an error: an OK TryResult without an answer.
//
// Thread safety: safe for concurrent use; calls share the channel. In the
// tbms_client_grpc library, apart from the REST client's.
#pragma once

#include <memory>
#include <string>

#include "kserve/grpc_service.pb.h"
#include "tbms/client/try.h"
#include "tbms/common/status.h"

namespace tbms::client {

class GrpcClient {
 public:
  struct Options {
    std::string address = "";     // HOST:PORT; a name with several addresses spreads calls over them
    std::string access_id = "";   // with access_key, every try is signed; both empty: unsigned
    std::string access_key = "";  //   (a server in --insecure-dev); never logged or echoed
    std::string instance = "default";  // whose tries: 1-128 characters of [A-Za-z0-9._-]
    bool tls = false;          // TLS, trusting ca_file's CA, or the system's CAs when it is empty
    std::string ca_file = "";  // a CA (PEM) to trust; implies tls
    double request_timeout_ms = 0;  // 0: a try's tloc + 1000 ms (11 s without tloc)
  };

  // INVALID_ARGUMENT for an address that is not HOST:PORT, an instance
  // outside the name rule, an access id without a key (or the reverse), a
  // timeout < 0, or a CA file that cannot be read. Connects lazily.
  static StatusOr<std::unique_ptr<GrpcClient>> Create(Options options);
  ~GrpcClient();
  GrpcClient(const GrpcClient&) = delete;
  GrpcClient& operator=(const GrpcClient&) = delete;

  // The try as a signed ModelInfer of model "try".
  StatusOr<TryResult> Try(const TryRequest& request);
  // The same call, answering the response message itself (what Try reads).
  StatusOr<inference::ModelInferResponse> TryResponse(const TryRequest& request);

 private:
  struct Channel;
  GrpcClient(Options options, std::unique_ptr<Channel> channel);

  const Options options_;
  const std::unique_ptr<Channel> channel_;
};

}  // namespace tbms::client
