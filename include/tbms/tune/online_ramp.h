// The online tuner on a load ramp: one model on the virtual clock, its rate
// stepping through `qps` (Poisson within each step), served once per
// configuration — the online tuner, and fixed batch sizes and delays — so
// the p99 lag per step shows whether each holds the lag target while the
// QPS rises and falls. Deterministic (seeded); thread-safe (all state local).
#pragma once

#include <string>
#include <vector>

#include "tbms/common/status.h"
#include "tbms/tune/batch_curve.h"
#include "tbms/tune/online.h"

namespace tbms {

struct RampConfig {
  std::string name;
  bool online = false;  // the tuner moves batching, starting from the fixed values below
  int max_batch_size = 1;
  Duration max_queue_delay{0};
};

struct RampOutcome {
  double p99_ms = 0;
  double mean_ms = 0;
  double mean_batch = 0;
  double busy_ms_per_response = 0;  // device time each answer cost
  // What batching was in force at the step's end (the online tuner's last decision).
  int max_batch_size = 0;
  double max_queue_delay_ms = 0;
};

struct RampStepResult {
  double qps = 0;
  std::vector<RampOutcome> outcomes;  // per config, in order
};

struct OnlineRampOptions {
  BatchCurve curve;
  int replicas = 1;
  Duration lag_target{0};
  int max_batch_cap = 16;       // the online tuner's cap (the model's max_batch_size)
  std::vector<double> qps;      // per step, each > 0
  Duration step = std::chrono::seconds(10);
  std::vector<RampConfig> configs;
  uint64_t seed = 1;
};

StatusOr<std::vector<RampStepResult>> RunOnlineRamp(const OnlineRampOptions& options);

// The levels, then back down without repeating the top: 1, 2, 3 -> 1, 2, 3, 2, 1.
std::vector<double> UpAndDown(std::vector<double> levels);

}  // namespace tbms
