// Parses `tbms serve --simulate embedding=35,svm=25:2.5,...` into simulated
// models: NAME=MS[:PER_ITEM_MS], MS being the single-item service time and
// PER_ITEM_MS the increment per extra batch item (default: MS / 10), so a
// batch of n takes MS + PER_ITEM_MS * (n - 1). Thread-safe (pure).
#pragma once

#include <string_view>
#include <vector>

#include "tbms/server/engine.h"

namespace tbms {

struct SimulateDefaults {
  Batcher::Options batching;           // max batch size, delay, queue size
  SimulatedExecutor::Options shape;    // jitter, failure/hang rates, instances, seed
};

StatusOr<std::vector<SimulatedModelSpec>> ParseSimulateSpec(std::string_view spec,
                                                            const SimulateDefaults& defaults);

}  // namespace tbms
