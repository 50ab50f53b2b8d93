// A load ramp over a simulated fleet: does the autoscaling signal rise
// before the answers get worse? `tbms sim --ramp` runs the fleet (the
// Kubernetes topology with workers) at each load in turn and reads, per step,
// what the HorizontalPodAutoscaler would see (the p90 of top_budget_use,
// deploy/k8s/base/autoscaling.yaml) next to what callers get (answered by
// tloc, effective quality). docs/fleet.md sizes a fleet from it.
#pragma once

#include <functional>
#include <vector>

#include "tbms/common/status.h"
#include "tbms/sim/fleet_sim.h"

namespace tbms {

struct RampOptions {
  std::vector<double> loads;         // multiples of the top model's capacity, ascending
  double target = 0.9;               // the HPA's target value for the signal
  double answered_floor_pct = 99.9;  // answers have fallen below this share answered by tloc...
  double quality_drop = 0.01;        // ...or effective quality this far (relative) below the first step's
};

struct RampStep {
  double load = 0;
  SimResult result;
  // What the HPA's rule makes of the signal: ceil(hosts x p90 / target), no
  // change within Kubernetes' default 10% tolerance; hosts are the workers
  // (the servers without workers).
  int hpa_wants = 0;
  bool answers_fell = false;
};

struct RampResult {
  std::vector<RampStep> steps;
  int signal_step = -1;   // the first step where the HPA scales up (hpa_wants > hosts; -1: none)
  int answers_step = -1;  // the first step whose answers fell (-1: none)
  // The highest target that still scales up at the last step before the
  // answers fall (its signal over the tolerance's 1.1); 0 when they fall at
  // the first step, or never fall (no step to warn before).
  double highest_target = 0;
  // The signal warns in time: the HPA scales up at a lighter load than the
  // answers fall (or they never fall).
  bool warns_first() const { return signal_step >= 0 && (answers_step < 0 || signal_step < answers_step); }
};

// INVALID_ARGUMENT for a bad ramp or fleet. `step_done` (optional) hears of
// each step as it ends.
StatusOr<RampResult> RunRamp(const FleetOptions& fleet, const RampOptions& ramp,
                             const std::function<void(const RampStep&)>& step_done = {});

// The HPA's desired replica count for `current` replicas (autoscaling/v2)
// for a metric at `value` with target `target`: ceil(current x value /
// target), unchanged while value / target is within kHpaTolerance of 1.
inline constexpr double kHpaTolerance = 0.1;  // kube-controller-manager's default
int HpaDesired(int current, double value, double target);

}  // namespace tbms
