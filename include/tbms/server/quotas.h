// Quotas: each instance's limits on tries in flight and tries per second
// (instances.toml: max_concurrent, max_rps). A try takes a slot before it
// is submitted and gives it back when answered; over a limit it is refused
// with RESOURCE_EXHAUSTED and how long to wait (HTTP 429 + Retry-After).
// State is per instance name and survives reloads; it is bounded by the
// instances a house declares. Thread-safe.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "tbms/common/mutex.h"
#include "tbms/common/status.h"
#include "tbms/house/config.h"

namespace tbms {

class Quotas {
 public:
  using Clock = std::chrono::steady_clock;

  // Takes a slot of `instance` iff OK; else RESOURCE_EXHAUSTED and
  // *retry_after_s, the whole seconds to wait.
  Status Acquire(const InstanceConfig& instance, int* retry_after_s, Clock::time_point now = Clock::now())
      EXCLUDES(mu_);
  // Gives back the slot of an answered try (only after an OK Acquire).
  void Release(std::string_view instance) EXCLUDES(mu_);

 private:
  struct State {
    int in_flight = 0;
    double tokens = -1;  // -1: not started (a full bucket)
    Clock::time_point refilled;
  };
  Mutex mu_;
  std::map<std::string, State, std::less<>> states_ GUARDED_BY(mu_);
};

}  // namespace tbms
