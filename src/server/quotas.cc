#include "tbms/server/quotas.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tbms {

Status Quotas::Acquire(const InstanceConfig& instance, int* retry_after_s, Clock::time_point now) {
  if (instance.max_concurrent <= 0 && instance.max_rps <= 0) return OkStatus();
  MutexLock lock(&mu_);
  State& s = states_[instance.name];
  if (instance.max_concurrent > 0 && s.in_flight >= instance.max_concurrent) {
    *retry_after_s = 1;
    return ResourceExhausted("instance '" + instance.name + "' has " + std::to_string(s.in_flight) +
                             " requests in flight, its max_concurrent");
  }
  if (instance.max_rps > 0) {
    const double burst = std::max(1.0, instance.max_rps);  // one second's worth
    if (s.tokens < 0) s.tokens = burst;
    const double elapsed = std::chrono::duration<double>(now - s.refilled).count();
    s.tokens = std::min(burst, s.tokens + std::max(0.0, elapsed) * instance.max_rps);
    s.refilled = now;
    if (s.tokens < 1) {
      *retry_after_s = std::max(1, static_cast<int>(std::ceil((1 - s.tokens) / instance.max_rps)));
      char rate[32];
      std::snprintf(rate, sizeof rate, "%g", instance.max_rps);
      return ResourceExhausted("instance '" + instance.name + "' is over its max_rps of " + rate +
                               " requests per second");
    }
    s.tokens -= 1;
  }
  ++s.in_flight;
  return OkStatus();
}

void Quotas::Release(std::string_view instance) {
  MutexLock lock(&mu_);
  auto it = states_.find(instance);
  if (it != states_.end() && it->second.in_flight > 0) --it->second.in_flight;
}

}  // namespace tbms
