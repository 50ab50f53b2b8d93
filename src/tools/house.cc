// tbms house: work with a model house, the folder of models, versions, mixes
// and tasks a server loads (docs/house.md). `tbms house check DIR` reads the
// house as the server would and prints every error, one per line, as
// file:line:column: message, then the keys not acted on yet as
// "warning: ...". Exit 0 when the house is valid (warnings or not), 1 when
// it has errors, 2 on bad usage.
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "tbms/house/config.h"

namespace tbms::tools {
namespace {

std::string Count(size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

// "house OK: 4 models (4 versions served), 2 mixes, 1 instance, 1 task"
std::string Summary(const HouseConfig& house) {
  size_t models = 0, mixes = 0, versions = 0, tasks = 0;
  for (const ModelConfig& m : house.models) {
    if (m.is_mix()) {
      ++mixes;
    } else {
      ++models;
      versions += m.versions.size();
    }
  }
  size_t keys = house.admin_keys.size();
  for (const InstanceConfig& i : house.instances) {
    tasks += i.tasks.size();
    keys += i.keys.size();
  }
  return "house OK: " + Count(models, "model", "models") + " (" +
         Count(versions, "version", "versions") + " served), " + Count(mixes, "mix", "mixes") +
         ", " + Count(house.instances.size(), "instance", "instances") + ", " +
         Count(tasks, "task", "tasks") + ", " + Count(keys, "access key", "access keys");
}

int RunCheck(const std::string& dir, bool no_secrets) {
  const HouseScan scan = ScanHouse(dir, {.read_secrets = !no_secrets});
  for (const HouseError& e : scan.errors) std::cerr << e.message << "\n";
  for (const HouseWarning& w : scan.warnings) std::cerr << "warning: " << w.message << "\n";  // as the server logs them
  if (!scan.errors.empty()) return 1;
  std::cout << Summary(scan.config) << (no_secrets ? " (secrets not read)" : "") << "\n";
  return 0;
}

}  // namespace

void AddHouse(CLI::App& app) {
  CLI::App* house = app.add_subcommand(
      "house", "Work with a model house: the folder of models, versions, mixes and the "
               "instances' tasks that a server loads (see docs/house.md)");
  house->require_subcommand(1);
  auto dir = std::make_shared<std::string>();
  auto no_secrets = std::make_shared<bool>(false);
  CLI::App* check = house->add_subcommand(
      "check", "Read a house as the server would and print every error, one per line, as "
               "file:line:column: message (exit 1 if any; exit 0 and a summary if none)");
  check->add_option("DIR", *dir, "The house folder (holding instances.toml and one folder per model)")
      ->required();
  check->add_flag("--no-secrets", *no_secrets,
                  "Check where each access key's secret is declared without reading it (where the "
                  "secrets are not present, e.g. CI)");
  check->callback([dir, no_secrets] { SetExitCode(RunCheck(*dir, *no_secrets)); });
  AddHouseBuild(house);
}

}  // namespace tbms::tools
