// Clock: the only source of time and alarms for the scheduling core.
//
// The core (broker, batchers, predictor, simulated executors) never reads the
// real clock: it is handed a Clock. Tests and the simulator use VirtualClock
// (common/virtual_clock.h); the server uses RealClock (server/real_clock.h).
#pragma once

#include <cstdint>
#include <functional>

#include "tbms/common/time.h"

namespace tbms {

using TimerId = uint64_t;
inline constexpr TimerId kNoTimer = 0;

class Clock {
 public:
  using Callback = std::function<void()>;
  virtual ~Clock() = default;

  virtual TimePoint Now() const = 0;
  // Runs `fn` once at or after `at` (at once, on the next run of due timers, if
  // `at` has passed). Timers due at the same time run in scheduling order.
  // Callbacks run in the same context as the rest of the core (see the
  // implementation for which thread that is); they may schedule and cancel.
  virtual TimerId Schedule(TimePoint at, Callback fn) = 0;
  // Cancels a pending timer. Cancelling a fired or unknown timer is a no-op.
  virtual void Cancel(TimerId id) = 0;
  // How late this clock's timers have run lately: the core's own measure of
  // being short of CPU (an answer it sends leaves about that much later).
  // Zero for a clock that is never late by itself.
  virtual Duration Lag() const { return Duration(0); }
};

}  // namespace tbms
