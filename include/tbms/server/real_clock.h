// RealClock: the Clock of a running server, on steady_clock and one Asio timer.
//
// Timers live in a TimerQueue; a single asio::steady_timer is armed for the
// earliest. The core runner polls the clock after every group of tasks (see
// RealTimeCore), which runs what is due and re-arms the Asio timer; the
// timer's handler posts a poll to the core. So a timer due "now" (a 0 ms
// simulated model) runs before the Post that scheduled it returns.
// In the core, Now reads the steady clock once per task and then returns
// that reading: a try's path calls it a dozen times, and each call costs
// ~30 ns on a virtual machine; the core's tasks take microseconds, so the
// reading is never stale by more.
// Thread safety: every method, and Poll, only in the core's context (a
// CoreRunner task); Now from any thread.
#pragma once

#include <utility>  // before Asio: std::exchange in awaitable.hpp (Boost 1.74, g++ 12)

#include <boost/asio/steady_timer.hpp>

#include "tbms/common/clock.h"
#include "tbms/common/core_lag.h"
#include "tbms/common/core_runner.h"
#include "tbms/common/timer_queue.h"

namespace tbms {

class RealClock final : public Clock {
 public:
  RealClock(boost::asio::any_io_executor executor, CoreRunner* core);

  TimePoint Now() const override;
  // A due time already past is "now": lateness counts from the scheduling.
  TimerId Schedule(TimePoint at, Callback fn) override { return timers_.Schedule(std::max(at, Now()), std::move(fn)); }
  void Cancel(TimerId id) override { timers_.Cancel(id); }
  // How late Poll has run due timers lately (see common/core_lag.h); any thread.
  Duration Lag() const override { return lag_.Recent(Now()); }

  // Runs due timers, then arms the Asio timer for the next one.
  void Poll();
  // Stops arming the Asio timer (shutdown).
  void Stop();

 private:
  void OnTimer(const boost::system::error_code& ec);

  CoreRunner* const core_;
  // Now's reading for the core's current task (see above).
  mutable uint64_t now_epoch_ = 0;
  mutable TimePoint now_;
  boost::asio::steady_timer timer_;
  TimerQueue timers_;
  CoreLag lag_;
  bool armed_ = false;
  bool stopped_ = false;
  TimePoint armed_at_;
};

// The core of a running server: a CoreRunner whose every group of tasks
// ends with a poll of its RealClock. Create it before, and destroy it after,
// everything that posts to it (the engine, the executors).
struct RealTimeCore {
  explicit RealTimeCore(boost::asio::any_io_executor executor)
      : runner([this] { clock.Poll(); }), clock(std::move(executor), &runner) {}
  // Stops the clock (in the core's context) so the io_context can finish.
  void Stop() {
    runner.RunAndWait([this] { clock.Stop(); });
  }

  CoreRunner runner;
  RealClock clock;
};

}  // namespace tbms
