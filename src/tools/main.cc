// tbms: the command-line entry point. `tbms serve` runs a server, `tbms try`
// asks one; `tbms --help` and `tbms COMMAND --help` describe every flag.
#include <CLI/CLI.hpp>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <new>

#include "commands.h"

namespace {

// CLI11's ranges let "nan" through (every comparison with it is false), and
// an unsigned option takes "-1" as a huge number: one rule for every number
// option of every command, checked before any command runs.
std::string FiniteNumber(std::string& text) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() && *end == '\0' && !std::isfinite(v)) return "'" + text + "' is not a finite number";
  return "";
}

std::string NotNegative(std::string& text) {
  return text.find('-') == std::string::npos ? "" : "'" + text + "' must not be negative";
}

void CheckNumbers(CLI::App& app) {
  for (CLI::Option* option : app.get_options()) {
    const std::string type = option->get_type_name();
    if (type.rfind("FLOAT", 0) == 0) option->check(CLI::Validator(FiniteNumber, "", "FINITE"));
    if (type.rfind("UINT", 0) == 0) option->check(CLI::Validator(NotNegative, "", "NOT_NEGATIVE"));
  }
  for (CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) CheckNumbers(*command);
}

// "tbms: unknown command 'x' (...)" when argv names a command (or a
// command's subcommand) that does not exist; CLI11 would only say that one
// is required.
std::string UnknownCommand(CLI::App& app, int argc, char** argv) {
  CLI::App* parent = &app;
  std::string path = "tbms";
  for (int i = 1; i < argc && argv[i][0] != '-'; ++i) {
    const auto known = parent->get_subcommands([](CLI::App*) { return true; });
    if (known.empty()) return "";  // a positional argument, not a command
    std::string names;
    CLI::App* next = nullptr;
    for (CLI::App* c : known) {
      names += (names.empty() ? "" : ", ") + c->get_name();
      if (c->check_name(argv[i])) next = c;
    }
    if (next == nullptr) {
      return path + ": unknown command '" + argv[i] + "' (" + names + "; see " + path + " --help)";
    }
    parent = next;
    path += " " + next->get_name();
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"TBMS: time-based model serving. Every request carries its time budget and a "
               "ranked list of models; TBMS returns the best answer that can be had in time."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tbms 0.1.0");
  tbms::tools::AddServe(app);
  tbms::tools::AddTry(app);
  tbms::tools::AddReport(app);
  tbms::tools::AddBench(app);
  tbms::tools::AddSim(app);
  tbms::tools::AddTune(app);
  tbms::tools::AddHouse(app);
  CheckNumbers(app);
  if (const std::string unknown = UnknownCommand(app, argc, argv); !unknown.empty()) {
    std::cerr << unknown << "\n";
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version exit 0; any bad flag exits 2, as every command documents.
    return app.exit(e) == 0 ? 0 : 2;
  } catch (const std::bad_alloc&) {
    std::cerr << "tbms: out of memory: this run needs more than the machine (or its container) allows\n";
    return 1;
  }
  return tbms::tools::ExitCode();
}
