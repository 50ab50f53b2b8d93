// Private to the house component (src/house/): the readers of one model's
// files, model.toml and a version's simulated.toml, checked key by key with
// every problem reported through a Diag (see toml_fields.h). Folder walks,
// version scans and the house-wide checks (mixes, tasks) are in config.cc.
//
// Thread safety: functions without state, safe for concurrent use; the Diag
// passed in is not (see toml_fields.h).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "tbms/backends/simulated.h"
#include "tbms/house/config.h"
#include "toml_fields.h"

namespace tbms::house_detail {

// Where a model's house-wide references are written, for the house-wide
// checks: a mix's members, the devices its replicas are placed on.
struct ModelSource {
  std::string file;  // model.toml, as shown
  std::vector<toml::source_position> at;  // where each member is written
  std::vector<toml::source_position> group_at;  // each instance group's device
  toml::source_position device_at;  // `device`, when the model names one
};

// The folders of a model: version numbers, and any other name.
struct Folders {
  std::vector<int64_t> versions;  // ascending
  std::vector<std::string> others;
};

// A version folder's number: a positive decimal without leading zeros.
std::optional<int64_t> VersionNumber(std::string_view name);

// A list of 1..32 distinct names (a task's models, a mix's members); their
// positions go to `at`.
std::vector<std::string> ReadNames(const toml::array& list, std::string_view key, Diag& diag,
                                   std::vector<toml::source_position>* at);

// A list of 1..256 HOST:PORT (a [remote] table's, a remote device's);
// `prefix` starts the message about the list's length ("device 'w': ").
std::vector<std::string> ReadEndpoints(const toml::array& list, std::string_view prefix, Diag& diag);

// What each backend needs in a version folder (the simulator: its timing
// profile; the text models: the files their Train* functions write).
const std::map<std::string, std::vector<std::string>, std::less<>>& Artifacts();

// Reads model.toml (parsed into `table`) into `m`, whose name and dir are
// set; a served model gets one VersionConfig per version its policy serves,
// the positions of a mix's members and of its devices go to `source`
// (placements are resolved house-wide: placement.h). Problems go to `diag`.
void ReadModel(const toml::table& table, const Folders& folders, const HouseLimits& limits,
               Diag& diag, ModelConfig* m, ModelSource* source);

// Reads a simulated version's timing profile from `file` into `out`;
// reported to `diag` when it is missing or bad.
void ReadSimulated(const std::filesystem::path& file, const HouseLimits& limits, Diag& diag,
                   SimulatedExecutor::Options* out);

}  // namespace tbms::house_detail
