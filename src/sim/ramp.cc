#include "tbms/sim/ramp.h"

#include <cmath>

namespace tbms {

int HpaDesired(int current, double value, double target) {
  const double ratio = value / target;
  if (std::abs(ratio - 1.0) <= kHpaTolerance) return current;
  return static_cast<int>(std::ceil(current * ratio));
}

StatusOr<RampResult> RunRamp(const FleetOptions& fleet, const RampOptions& ramp,
                             const std::function<void(const RampStep&)>& step_done) {
  if (ramp.loads.empty() || ramp.loads.size() > 100) return InvalidArgument("a ramp has 1 to 100 steps");
  for (size_t i = 0; i < ramp.loads.size(); ++i) {
    const double l = ramp.loads[i];
    if (!std::isfinite(l) || l <= 0 || l > 1000) return InvalidArgument("ramp loads must be in (0, 1000]");
    if (i > 0 && l <= ramp.loads[i - 1]) return InvalidArgument("ramp loads must rise step by step");
  }
  if (!std::isfinite(ramp.target) || ramp.target <= 0 || ramp.target > 10) {
    return InvalidArgument("the signal's target must be in (0, 10]");
  }
  if (!std::isfinite(ramp.answered_floor_pct) || ramp.answered_floor_pct < 0 || ramp.answered_floor_pct > 100 ||
      !std::isfinite(ramp.quality_drop) || ramp.quality_drop < 0 || ramp.quality_drop > 1) {
    return InvalidArgument("the answered floor must be in [0, 100] % and the quality drop in [0, 1]");
  }
  if (!fleet.trace.empty()) return InvalidArgument("a ramp makes its own traces: give no trace");
  if (fleet.models.empty()) return InvalidArgument("name at least one model");
  const FleetModel& top = fleet.models[0];
  const double capacity = CapacityQps(top, top.replicas * Hosts(fleet, top));
  const int hosts = fleet.workers > 0 ? fleet.workers : fleet.servers;
  RampResult out;
  for (double load : ramp.loads) {
    FleetOptions o = fleet;
    o.rate_qps = load * capacity;
    o.offline_bound = false;
    auto r = RunFleet(o);
    if (!r.ok()) return r.status();
    RampStep step;
    step.load = load;
    step.result = std::move(r).value();
    step.hpa_wants = HpaDesired(hosts, step.result.budget_use_p90, ramp.target);
    const double first_quality = out.steps.empty() ? step.result.effective_quality
                                                   : out.steps.front().result.effective_quality;
    step.answers_fell = step.result.answered_pct < ramp.answered_floor_pct ||
                        step.result.effective_quality < first_quality * (1 - ramp.quality_drop);
    const int index = static_cast<int>(out.steps.size());
    if (out.signal_step < 0 && step.hpa_wants > hosts) out.signal_step = index;
    if (out.answers_step < 0 && step.answers_fell) out.answers_step = index;
    if (step_done) step_done(step);
    out.steps.push_back(std::move(step));
  }
  if (out.answers_step > 0) {
    // A hair below, so that the HPA's strict "beyond the tolerance" holds at that step.
    out.highest_target = out.steps[out.answers_step - 1].result.budget_use_p90 / (1 + kHpaTolerance) * (1 - 1e-9);
  }
  return out;
}

}  // namespace tbms
