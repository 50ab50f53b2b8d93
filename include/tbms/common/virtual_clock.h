// VirtualClock: a Clock whose time moves only when told to.
//
// Tests and the simulator drive the core with it: AdvanceTo(t) fires every
// timer due up to t in time order, with Now() equal to each timer's due time
// while it runs, then leaves the clock at t. Single-threaded
// (thread-compatible): callbacks run inside AdvanceTo on the caller's thread.
#pragma once

#include "tbms/common/clock.h"
#include "tbms/common/timer_queue.h"

namespace tbms {

class VirtualClock final : public Clock {
 public:
  explicit VirtualClock(TimePoint start = TimePoint{}) : now_(start) {}

  TimePoint Now() const override { return now_; }
  TimerId Schedule(TimePoint at, Callback fn) override;
  void Cancel(TimerId id) override { timers_.Cancel(id); }
  // A virtual core is never late by itself; tests set what a real one would measure.
  Duration Lag() const override { return lag_; }
  void set_lag(Duration lag) { lag_ = lag; }

  void AdvanceTo(TimePoint t);
  void Advance(Duration d) { AdvanceTo(now_ + d); }
  // Fires timers until none is pending; returns false if `limit` was hit
  // (a guard against self-rescheduling loops in tests and simulations).
  bool RunUntilIdle(size_t limit = 10'000'000);
  size_t pending_timers() const { return timers_.live(); }

 private:
  TimePoint now_;
  Duration lag_{0};
  TimerQueue timers_;
};

}  // namespace tbms
