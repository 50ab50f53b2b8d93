#include "tbms/server/simulate_spec.h"

#include <charconv>

#include "tbms/common/names.h"

namespace tbms {
namespace {

bool ParseMs(std::string_view text, double* out) {
  const char* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && p == end && *out >= 0 && *out <= 600'000;
}

StatusOr<SimulatedModelSpec> ParseOne(std::string_view item, const SimulateDefaults& d) {
  const std::string shown(item);
  const size_t eq = item.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return InvalidArgument("--simulate: expected NAME=MS[:PER_ITEM_MS], got '" + shown + "'");
  }
  const std::string_view name = item.substr(0, eq);
  std::string_view times = item.substr(eq + 1);
  if (!IsValidName(name)) {
    return InvalidArgument("--simulate: bad model name '" + std::string(name) + "' (" + std::string(kNameRule) + ")");
  }
  double single_ms, per_item_ms;
  const size_t colon = times.find(':');
  if (!ParseMs(times.substr(0, colon), &single_ms)) {
    return InvalidArgument("--simulate: bad time in '" + shown + "' (milliseconds, 0 to 600000)");
  }
  per_item_ms = single_ms / 10;
  if (colon != std::string_view::npos && !ParseMs(times.substr(colon + 1), &per_item_ms)) {
    return InvalidArgument("--simulate: bad per-item time in '" + shown + "'");
  }
  if (per_item_ms > single_ms) {
    return InvalidArgument("--simulate: per-item time exceeds the single-item time in '" + shown + "'");
  }
  SimulatedModelSpec spec;
  spec.default_est = Millis(single_ms);
  spec.batching = d.batching;
  spec.batching.model = std::string(name);
  spec.simulated = d.shape;
  spec.simulated.model = std::string(name);
  spec.simulated.per_item = Millis(per_item_ms);
  spec.simulated.base = Millis(single_ms) - spec.simulated.per_item;
  return spec;
}

}  // namespace

StatusOr<std::vector<SimulatedModelSpec>> ParseSimulateSpec(std::string_view spec,
                                                            const SimulateDefaults& defaults) {
  std::vector<SimulatedModelSpec> out;
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    auto one = ParseOne(spec.substr(0, comma), defaults);
    if (!one.ok()) return one.status();
    for (const SimulatedModelSpec& seen : out) {
      if (seen.simulated.model == one->simulated.model) {
        return InvalidArgument("--simulate: model '" + seen.simulated.model + "' is given twice");
      }
    }
    one->simulated.seed = defaults.shape.seed + out.size();
    out.push_back(std::move(one).value());
    if (comma == std::string_view::npos) break;
    spec.remove_prefix(comma + 1);
    if (spec.empty()) return InvalidArgument("--simulate: trailing comma");
  }
  if (out.empty()) return InvalidArgument("--simulate: name at least one model, e.g. svm=25");
  if (out.size() > 256) return InvalidArgument("--simulate: at most 256 models");
  return out;
}

HouseConfig SimulatedHouse(const std::vector<SimulatedModelSpec>& specs, int warmup) {
  HouseConfig house;
  for (const SimulatedModelSpec& spec : specs) {
    ModelConfig m;
    m.name = spec.simulated.model;
    m.backend = kSimulatedBackend;
    m.est = spec.default_est;
    m.replicas = spec.simulated.replicas;
    m.batching = spec.batching;
    m.warmup.count = warmup;
    m.inputs = {TensorSpec{"question", DataType::kBytes, {1}}};
    m.outputs = {TensorSpec{"answer", DataType::kBytes, {1}}};
    VersionConfig v;
    v.number = 1;
    v.simulated = spec.simulated;
    m.versions.push_back(std::move(v));
    house.models.push_back(std::move(m));
  }
  return house;
}

}  // namespace tbms
