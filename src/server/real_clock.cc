#include "tbms/server/real_clock.h"

namespace tbms {

RealClock::RealClock(boost::asio::any_io_executor executor, std::mutex* core_mu)
    : core_mu_(core_mu), timer_(std::move(executor)) {}

TimePoint RealClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
}

void RealClock::Poll() {
  for (;;) {
    auto due = timers_.PopDue(Now());
    if (!due) break;
    due->fn();
  }
  auto next = timers_.NextDue();
  if (!next || stopped_ || (armed_ && armed_at_ <= *next)) return;
  armed_ = true;
  armed_at_ = *next;
  timer_.expires_at(*next);  // cancels a later wait; its handler sees operation_aborted
  timer_.async_wait([this](const boost::system::error_code& ec) { OnTimer(ec); });
}

void RealClock::OnTimer(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::operation_aborted) return;  // re-armed earlier
  std::lock_guard lock(*core_mu_);
  armed_ = false;
  Poll();
}

void RealClock::Stop() {
  stopped_ = true;
  timer_.cancel();
}

}  // namespace tbms
