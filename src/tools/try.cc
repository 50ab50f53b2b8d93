// tbms try: asks a server for the best answer within a time budget and prints
// it. Exit 0 with a result (an answer or "no answer"), 1 on transport or HTTP
// errors, 2 on bad flags.
#include <charconv>
#include <iostream>
#include <simdjson.h>

#include "commands.h"
#include "credentials.h"
#include "http_client.h"
#include "try_body.h"
#include "tbms/common/json_writer.h"

namespace tbms::tools {
namespace {

struct TryFlags {
  TryParams call;  // --url, --instance, --models, --tloc, --cross-*, --priority
  CredentialFlags credentials;
  double timeout_ms = 0;  // 0: tloc + 1 s
  bool json = false;
  std::string question;
};

void PrintResult(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element r;
  if (parser.parse(body).get(r) != simdjson::SUCCESS) {
    std::cout << body << "\n";
    return;
  }
  auto answer = r["answer"];
  if (answer.is_null()) {
    std::cout << "no answer (" << r["reason"].get_string().value_unsafe() << ")\n";
  } else {
    std::string_view s;
    if (answer.get_string().get(s) == simdjson::SUCCESS) {
      std::cout << s << "\n";
    } else {
      std::cout << simdjson::minify(answer.value_unsafe()) << "\n";
    }
    std::cout << "model: " << r["model"].get_string().value_unsafe() << " (rank "
              << r["rank"].get_int64().value_unsafe() << ")";
    std::string_view reason;
    if (r["reason"].get_string().get(reason) == simdjson::SUCCESS) std::cout << ", downgraded: " << reason;
    std::cout << "\n";
  }
  std::cout << "elapsed: " << r["elapsed_ms"].get_double().value_unsafe() << " ms\n";
  simdjson::dom::array attempts;
  if (r["attempts"].get_array().get(attempts) == simdjson::SUCCESS) {
    for (auto a : attempts) {
      std::cout << "  " << a["model"].get_string().value_unsafe() << ": "
                << a["state"].get_string().value_unsafe() << " at "
                << a["started_ms"].get_double().value_unsafe() << " ms, "
                << a["latency_ms"].get_double().value_unsafe() << " ms\n";
    }
  }
}

int RunTry(const TryFlags& f) {
  auto models = ParseModels(f.call.models);
  if (!models.ok()) {
    std::cerr << "tbms try: " << models.status().message() << "\n";
    return 2;
  }
  auto key = LoadCredentials(f.credentials);
  if (!key.ok()) {
    std::cerr << "tbms try: " << key.status().message() << "\n";
    return 2;
  }
  const std::string body = TryBody(f.question, *models, f.call);
  const double timeout_ms = f.timeout_ms > 0 ? f.timeout_ms : f.call.tloc + 1000;
  auto res = HttpCall(f.call.url, "POST", "/v1/instances/" + f.call.instance + "/try", body,
                      Millis(timeout_ms), key->has_value() ? &**key : nullptr, f.credentials.ca_file);
  if (!res.ok()) {
    std::cerr << "tbms try: " << res.status().message() << "\n";
    return res.status().code() == StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (res->status != 200) {
    std::cerr << "tbms try: HTTP " << res->status << ": " << res->body << "\n";
    return 1;
  }
  if (f.json) {
    std::cout << res->body << "\n";
  } else {
    PrintResult(res->body);
  }
  return 0;
}

}  // namespace

void AddTry(CLI::App& app) {
  auto flags = std::make_shared<TryFlags>();
  CLI::App* cmd = app.add_subcommand("try", "Ask a TBMS server for the best answer within tloc");
  AddTryParams(cmd, flags->call);
  AddCredentialFlags(cmd, flags->credentials);
  cmd->add_option("--timeout-ms", flags->timeout_ms, "Client timeout (default: tloc + 1000)");
  cmd->add_flag("--json", flags->json, "Print the raw JSON response");
  cmd->add_option("question", flags->question, "The question")->required();
  cmd->callback([flags] { SetExitCode(RunTry(*flags)); });
}

namespace {
int g_exit_code = 0;
}
void SetExitCode(int code) { g_exit_code = code; }
int ExitCode() { return g_exit_code; }

}  // namespace tbms::tools
