// tbms try: asks a server for the best answer within a time budget and prints
// it. Exit 0 with a result (an answer or "no answer"), 1 on transport or HTTP
// errors, 2 on bad flags.
#include <iostream>

#include "client_flags.h"
#include "commands.h"
#include "tbms/client/client.h"

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
  auto r = client::ParseTryResult(body);
  if (!r.ok()) {
    std::cout << body << "\n";
    return;
  }
  if (!r->answer) {
    std::cout << "no answer (" << r->reason << ")\n";
  } else {
    std::cout << r->answer_text << "\n";
    std::cout << "model: " << r->model << " (rank " << r->rank << ")";
    if (!r->reason.empty()) std::cout << ", downgraded: " << r->reason;
    std::cout << "\n";
  }
  std::cout << "elapsed: " << r->elapsed_ms << " ms\n";
  for (const client::Attempt& a : r->attempts) {
    std::cout << "  " << a.model << ": " << a.state << " at " << a.started_ms << " ms, " << a.latency_ms << " ms"
              << (a.error ? " (" + *a.error + ")" : "") << "\n";
  }
}

int RunTry(const TryFlags& f) {
  auto models = ParseModels(f.call.models);
  if (!models.ok()) {
    std::cerr << "tbms try: " << models.status().message() << "\n";
    return 2;
  }
  const double timeout_ms = f.timeout_ms > 0 ? f.timeout_ms : f.call.tloc + 1000;
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
