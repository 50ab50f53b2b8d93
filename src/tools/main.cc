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
  tbms::tools::AddBench(app);
  tbms::tools::AddSim(app);
  tbms::tools::AddTune(app);
  tbms::tools::AddHouse(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and version exit 0; any bad flag exits 2, as every command documents.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return tbms::tools::ExitCode();
}
