// Parses `tbms serve --simulate embedding=35,svm=25:2.5,...` into simulated
// models: NAME=MS[:PER_ITEM_MS], MS being the single-item service time and
// PER_ITEM_MS the increment per extra batch item (default: MS / 10), so a
// batch of n takes MS + PER_ITEM_MS * (n - 1). Thread-safe (pure).
#pragma once

#include <string_view>
#include <vector>

#include "tbms/backends/simulated.h"
#include "tbms/batching/batcher.h"
#include "tbms/house/config.h"

namespace tbms {

// A model to serve with the simulated backend.
struct SimulatedModelSpec {
  Duration default_est{0};
  Batcher::Options batching;
  SimulatedExecutor::Options simulated;
};

struct SimulateDefaults {
  Batcher::Options batching;           // max batch size, delay, queue size
  SimulatedExecutor::Options shape;    // jitter, failure/hang rates, replicas, seed
};

StatusOr<std::vector<SimulatedModelSpec>> ParseSimulateSpec(std::string_view spec,
                                                            const SimulateDefaults& defaults);

}  // namespace tbms

namespace tbms {
// The models as a house held in memory: each a simulated model with one
// version ("1") and `warmup` as its [warmup] count, no instances declared
// (any instance name is accepted).
HouseConfig SimulatedHouse(const std::vector<SimulatedModelSpec>& specs, int warmup = 0);
}  // namespace tbms
