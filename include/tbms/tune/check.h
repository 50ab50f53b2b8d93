// Checking a recommendation the way it will be served: the real batcher,
// with the point's batch size, queue delay and replicas, on a virtual clock,
// fed Poisson arrivals at the goal's QPS, each batch taking the curve's T_b.
// Deterministic (seeded) and instantaneous; thread-safe (all state local).
#pragma once

#include <cstddef>
#include <cstdint>

#include "tbms/common/status.h"
#include "tbms/tune/batch_curve.h"
#include "tbms/tune/recommend.h"

namespace tbms {

struct CheckResult {
  size_t requests = 0;
  size_t refused = 0;       // the batcher's queue was full (an overloaded point)
  double mean_lag_ms = 0;   // enqueue to answer, the formulas' "lag"
  double p99_lag_ms = 0;
  double occupancy = 0;     // busy time / (replicas x the run's span)
  double mean_batch = 0;
};

// INVALID_ARGUMENT for requests outside [1, 10'000'000] or a point the curve
// has no batch size for.
StatusOr<CheckResult> CheckOnVirtualClock(const BatchCurve& curve, const OperatingPoint& point, double qps,
                                          size_t requests, uint64_t seed = 1);

}  // namespace tbms
