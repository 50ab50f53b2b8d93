// tbms: the command-line entry point. `tbms serve` runs a server, `tbms try`
// asks one; `tbms --help` and `tbms COMMAND --help` describe every flag.
#include <CLI/CLI.hpp>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"TBMS: time-based model serving. Every request carries its time budget and a "
               "ranked list of models; TBMS returns the best answer that can be had in time."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tbms 0.1.0");
  tbms::tools::AddServe(app);
  tbms::tools::AddTry(app);
  tbms::tools::AddReport(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return tbms::tools::ExitCode();
}
