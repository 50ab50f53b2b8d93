#include "tbms/server/real_clock.h"

namespace tbms {

RealClock::RealClock(boost::asio::any_io_executor executor, CoreRunner* core)
    : core_(core), timer_(std::move(executor)) {}

namespace {
TimePoint SteadyNow() { return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now()); }
}  // namespace

TimePoint RealClock::Now() const {
  if (!core_->in_core()) return SteadyNow();
  if (now_epoch_ != core_->task_epoch()) {
    now_epoch_ = core_->task_epoch();
    now_ = SteadyNow();
  }
  return now_;
}

void RealClock::Poll() {
  for (;;) {
    auto due = timers_.PopDue(Now());
    if (!due) break;
    lag_.Observe(Now(), due->at);
    due->fn();
  }
  auto next = timers_.NextDue();
  if (!next || stopped_ || (armed_ && armed_at_ <= *next)) return;
  armed_ = true;
  armed_at_ = *next;
  timer_.expires_at(*next);  // cancels a later wait; its handler sees operation_aborted
  timer_.async_wait([this](const boost::system::error_code& ec) { OnTimer(ec); });
}

// On an io thread: the timer state belongs to the core, so hand it over.
void RealClock::OnTimer(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::operation_aborted) return;  // re-armed earlier
  core_->Post([this] { armed_ = false; });  // the poll after this group re-arms
}

void RealClock::Stop() {
  stopped_ = true;
  timer_.cancel();
}

}  // namespace tbms
