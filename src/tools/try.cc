// tbms try: asks a server for the best answer within a time budget and prints
// it, over REST (--url) or the KServe v2 gRPC API (--grpc). Exit 0 with a
// result (an answer or "no answer"), 1 on transport, HTTP or gRPC errors, 2
// on bad flags.
#include "client_flags.h"  // TBMS's headers before gRPC's: see src/backends/remote/grpc_transport.cc
#include "commands.h"
#include "tbms/client/client.h"
#include "tbms/client/grpc_client.h"
#include "tbms/client/grpc_try.h"

#include <google/protobuf/util/json_util.h>

#include <iostream>

namespace tbms::tools {
namespace {

struct TryFlags {
  TryParams call;  // --url, --instance, --models, --tloc, --cross-*, --priority
  std::string grpc;  // HOST:PORT: over gRPC instead of --url
  CredentialFlags credentials;
  double timeout_ms = 0;  // 0: tloc + 1 s
  bool json = false;
  std::string question;
};

void PrintResult(const client::TryResult& r) {
  if (!r.answer) {
    std::cout << "no answer (" << r.reason << ")\n";
  } else {
    std::cout << r.answer_text << "\n";
    std::cout << "model: " << r.model << " (rank " << r.rank << ")";
    if (!r.reason.empty()) std::cout << ", downgraded: " << r.reason;
    std::cout << "\n";
  }
  std::cout << "elapsed: " << r.elapsed_ms << " ms\n";
  for (const client::Attempt& a : r.attempts) {
    std::cout << "  " << a.model << ": " << a.state << " at " << a.started_ms << " ms, " << a.latency_ms << " ms"
              << (a.error ? " (" + *a.error + ")" : "") << "\n";
  }
}

// Over gRPC: the try as a ModelInfer of model "try", signed as over REST.
int RunTryGrpc(const TryFlags& f, const client::TryRequest& request, double timeout_ms) {
  auto key = LoadCredentials(f.credentials);
  if (!key.ok()) {
    std::cerr << "tbms try: " << key.status().message() << "\n";
    return 2;
  }
  client::GrpcClient::Options options{.address = f.grpc, .instance = f.call.instance, .ca_file = f.credentials.ca_file,
                                      .request_timeout_ms = timeout_ms};
  if (key->has_value()) {
    options.access_id = (*key)->id;
    options.access_key = (*key)->secret;
  }
  auto tbms = client::GrpcClient::Create(std::move(options));
  if (!tbms.ok()) {
    std::cerr << "tbms try: " << tbms.status().message() << "\n";
    return 2;
  }
  if (auto message = client::TryMessage(request, f.call.instance); !message.ok()) {
    std::cerr << "tbms try: " << message.status().message() << "\n";
    return 2;  // a flag gRPC cannot say (a fractional tloc)
  }
  auto response = (*tbms)->TryResponse(request);
  auto result = response.ok() ? client::ParseTryMessage(*response) : response.status();
  if (!result.ok()) {
    std::cerr << "tbms try: " << result.status().message() << "\n";
    return 1;
  }
  if (f.json) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(*response, &json);
    std::cout << json << "\n";
  } else {
    PrintResult(*result);
  }
  return 0;
}

int RunTry(const TryFlags& f) {
  auto models = ParseModels(f.call.models);
  if (!models.ok()) {
    std::cerr << "tbms try: " << models.status().message() << "\n";
    return 2;
  }
  const double timeout_ms = f.timeout_ms > 0 ? f.timeout_ms : f.call.tloc + 1000;
  if (!f.grpc.empty()) return RunTryGrpc(f, TryRequestOf(f.question, *models, f.call), timeout_ms);
  auto tbms = MakeClient(f.call.url, f.credentials, f.call.instance, timeout_ms);
  if (!tbms.ok()) {
    std::cerr << "tbms try: " << tbms.status().message() << "\n";
    return 2;
  }
  // The raw exchange, so that an HTTP error prints the server's body as sent.
  const client::TryRequest request = TryRequestOf(f.question, *models, f.call);
  auto res = (*tbms)->Call("POST", client::TryTarget(f.call.instance), client::TryBody(request),
                           Millis(timeout_ms));
  if (!res.ok()) {
    std::cerr << "tbms try: " << res.status().message() << "\n";
    return 1;
  }
  if (res->status != 200) {
    std::cerr << "tbms try: HTTP " << res->status << ": " << res->body << "\n";
    return 1;
  }
  auto result = client::ParseTryResult(res->body);
  if (f.json || !result.ok()) {
    std::cout << res->body << "\n";
  } else {
    PrintResult(*result);
  }
  return 0;
}

}  // namespace

void AddTry(CLI::App& app) {
  auto flags = std::make_shared<TryFlags>();
  CLI::App* cmd = app.add_subcommand("try", "Ask a TBMS server for the best answer within tloc");
  AddTryParams(cmd, flags->call);
  cmd->add_option("--grpc", flags->grpc,
                  "Ask over the KServe v2 gRPC API at HOST:PORT instead of --url (TLS with --ca-file)")
      ->excludes(cmd->get_option("--url"));
  AddCredentialFlags(cmd, flags->credentials);
  cmd->get_option("--ca-file")->description("With an https --url, or to speak TLS to --grpc: trust this CA or "
                                            "self-signed certificate (PEM)");
  cmd->add_option("--timeout-ms", flags->timeout_ms, "Client timeout (0: tloc + 1000)")->check(CLI::Range(0.0, 3.6e6));
  cmd->add_flag("--json", flags->json, "Print the raw JSON response (over gRPC: the response message as JSON)");
  cmd->add_option("question", flags->question, "The question")->required();
  cmd->callback([flags, cmd] {
    if (cmd->count("--grpc") > 0 && flags->grpc.empty()) {
      std::cerr << "tbms try: --grpc must be HOST:PORT, not empty\n";
      return SetExitCode(2);
    }
    SetExitCode(RunTry(*flags));
  });
}

namespace {
int g_exit_code = 0;
}
void SetExitCode(int code) { g_exit_code = code; }
int ExitCode() { return g_exit_code; }

}  // namespace tbms::tools
