#include "tbms/common/virtual_clock.h"

#include <algorithm>

namespace tbms {

TimerId VirtualClock::Schedule(TimePoint at, Callback fn) {
  return timers_.Schedule(std::max(at, now_), std::move(fn));
}

void VirtualClock::AdvanceTo(TimePoint t) {
  while (auto due = timers_.PopDue(t)) {
    now_ = std::max(now_, due->at);
    due->fn();
  }
  now_ = std::max(now_, t);
}

bool VirtualClock::RunUntilIdle(size_t limit) {
  for (size_t i = 0; i < limit; ++i) {
    auto next = timers_.NextDue();
    if (!next) return true;
    auto due = timers_.PopDue(std::max(*next, now_));
    if (!due) return false;  // unreachable: NextDue saw a live timer
    now_ = std::max(now_, due->at);
    due->fn();
  }
  return timers_.live() == 0;
}

}  // namespace tbms
