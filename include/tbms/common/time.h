// Time vocabulary of the scheduling core: microsecond ticks on a monotonic
// timeline. Virtual clocks start at zero; the real clock is steady_clock.
#pragma once

#include <chrono>
#include <cstdint>

namespace tbms {

using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

constexpr Duration Millis(double ms) {
  return Duration(static_cast<int64_t>(ms * 1000.0 + (ms >= 0 ? 0.5 : -0.5)));
}
constexpr double ToMillis(Duration d) { return static_cast<double>(d.count()) / 1000.0; }
constexpr TimePoint AtMillis(double ms) { return TimePoint(Millis(ms)); }
constexpr double MillisSinceEpoch(TimePoint t) { return ToMillis(t.time_since_epoch()); }

}  // namespace tbms
