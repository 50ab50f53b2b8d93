// tbms try: asks a server for the best answer within a time budget and prints
// it, over REST (--url) or the KServe v2 gRPC API (--grpc). Exit 0 with a
// result (an answer or "no answer"), 1 on transport, HTTP or gRPC errors, 2
// on bad flags.
#include "client_flags.h"  // TBMS's headers before gRPC's: see src/backends/remote/grpc_transport.cc
#include "commands.h"
#include "tbms/client/client.h"
#include "tbms/client/grpc_try.h"
#include "tbms/kserve/grpc_bytes.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>
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

// Plain text, or TLS trusting only --ca-file's CA.
StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const CredentialFlags& flags) {
  if (flags.ca_file.empty()) return grpc::InsecureChannelCredentials();
  auto ca = ReadPemFile(flags.ca_file, "--ca-file");
  if (!ca.ok()) return ca.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = *std::move(ca);
  return grpc::SslCredentials(ssl);
}

// The try's ModelInfer to `address`, signed when there is a key; a
// gRPC error as the Status of its code, its message prefixed "gRPC CODE: ".
StatusOr<inference::ModelInferResponse> CallTry(const std::string& address,
                                                std::shared_ptr<grpc::ChannelCredentials> credentials,
                                                const std::optional<AccessKey>& key,
                                                const inference::ModelInferRequest& message, double timeout_ms) {
  const std::string bytes = message.SerializeAsString();
  const std::string path(client::kGrpcTryPath);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + Millis(timeout_ms));
  if (key) ctx.AddMetadata("authorization", client::SignTryMessage(*key, bytes));
  grpc::GenericStub stub(grpc::CreateChannel(address, std::move(credentials)));
  grpc::ByteBuffer in = BytesBuffer(bytes), out;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, path, grpc::StubOptions(), &in, &out, [&done](grpc::Status s) { done.set_value(s); });
  const grpc::Status s = done.get_future().get();  // bounded by the deadline
  if (!s.ok()) {
    const auto code = static_cast<StatusCode>(s.error_code());
    return Status(code, "gRPC " + std::string(StatusCodeName(code)) + ": " + s.error_message());
  }
  inference::ModelInferResponse response;
  if (!response.ParseFromString(BufferBytes(out))) return Internal("the response is not a ModelInferResponse");
  return response;
}

// Over gRPC: the try as a ModelInfer of model "try", signed as over REST.
int RunTryGrpc(const TryFlags& f, const client::TryRequest& request, double timeout_ms) {
  auto key = LoadCredentials(f.credentials);
  auto message = client::TryMessage(request, f.call.instance);
  auto credentials = ChannelCredentials(f.credentials);
  for (const Status& s : {key.status(), message.status(), credentials.status()}) {
    if (!s.ok()) {
      std::cerr << "tbms try: " << s.message() << "\n";
      return 2;
    }
  }
  auto response = CallTry(f.grpc, *credentials, *key, *message, timeout_ms);
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
  cmd->add_option("--timeout-ms", flags->timeout_ms, "Client timeout (default: tloc + 1000)");
  cmd->add_flag("--json", flags->json, "Print the raw JSON response (over gRPC: the response message as JSON)");
  cmd->add_option("question", flags->question, "The question")->required();
  cmd->callback([flags] { SetExitCode(RunTry(*flags)); });
}

namespace {
int g_exit_code = 0;
}
void SetExitCode(int code) { g_exit_code = code; }
int ExitCode() { return g_exit_code; }

}  // namespace tbms::tools
