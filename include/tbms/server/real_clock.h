// RealClock: the Clock of a running server, on steady_clock and one Asio timer.
//
// Timers live in a TimerQueue; a single asio::steady_timer is armed for the
// earliest. The engine calls Poll() at the end of every entry into the core
// (under its core lock), which runs what is due and re-arms the Asio timer;
// the timer's handler takes the core lock and polls too. So a timer due
// "now" (a 0 ms simulated model) runs before the entry returns.
// Thread safety: every method, and Poll, only with the core lock held.
#pragma once

#include <utility>  // before Asio: std::exchange in awaitable.hpp (Boost 1.74, g++ 12)

#include <boost/asio/steady_timer.hpp>
#include <mutex>

#include "tbms/common/clock.h"
#include "tbms/common/timer_queue.h"

namespace tbms {

class RealClock final : public Clock {
 public:
  RealClock(boost::asio::any_io_executor executor, std::mutex* core_mu);

  TimePoint Now() const override;
  TimerId Schedule(TimePoint at, Callback fn) override { return timers_.Schedule(at, std::move(fn)); }
  void Cancel(TimerId id) override { timers_.Cancel(id); }

  // Runs due timers, then arms the Asio timer for the next one.
  void Poll();
  // Stops arming the Asio timer (shutdown).
  void Stop();

 private:
  void OnTimer(const boost::system::error_code& ec);

  std::mutex* const core_mu_;
  boost::asio::steady_timer timer_;
  TimerQueue timers_;
  bool armed_ = false;
  bool stopped_ = false;
  TimePoint armed_at_;
};

}  // namespace tbms
