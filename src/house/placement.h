// Private to the house component (src/house/): devices.toml, models'
// [[instance_group]] tables, and the house-wide placement checks that join
// them (unknown device, a kind of model its device cannot run, time shares
// over 100%, memory over capacity). Formats: docs/house.md, "Devices".
//
// Thread safety: functions without state, safe for concurrent use; the Diag
// passed in is not (see toml_fields.h).
#pragma once

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "model_config.h"
#include "tbms/house/config.h"
#include "toml_fields.h"

namespace tbms::house_detail {

struct DeviceTable {
  std::vector<DeviceConfig> devices;  // declared, by name
  bool broken = false;                // devices.toml has errors: placements on it are not checked
  const DeviceConfig* Find(std::string_view name) const;
};

// devices.toml at the house's root (none: an empty table); its problems go
// to `errors` as house-wide ones.
DeviceTable ReadDevices(const std::filesystem::path& house, const HouseLimits& limits, std::vector<HouseError>* errors);

// A model's [[instance_group]] list into m->groups (device names only, not
// resolved yet) and m->replicas; each group's device position to `source`.
void ReadInstanceGroups(const toml::array& list, const HouseLimits& limits, Diag& diag, ModelConfig* m,
                        ModelSource* source);

// Resolves every served model's groups against `devices` (a model without
// groups gets one: its `replicas` on its `device`), folds its devices into
// its fingerprint (a device that changes reloads the models on it), and
// runs the checks of docs/house.md. Models with errors leave
// scan->config.models for `broken`.
void PlaceModels(const DeviceTable& devices, const std::map<std::string, ModelSource, std::less<>>& sources,
                 int max_replicas, HouseScan* scan, std::set<std::string, std::less<>>* broken);

}  // namespace tbms::house_detail
