// CoreLag: the largest timer lateness of the current and previous window,
// forgotten after two windows; on explicit time points.
#include "tbms/common/core_lag.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

TimePoint At(Duration d) { return TimePoint(d); }
constexpr Duration kWindow = CoreLag::kWindow;

TEST(CoreLagTest, ZeroUntilATimerRunsLate) {
  CoreLag lag;
  EXPECT_EQ(lag.Recent(At(kWindow * 10)), Duration(0));
  lag.Observe(At(kWindow * 10), At(kWindow * 10));  // on time
  EXPECT_EQ(lag.Recent(At(kWindow * 10)), Duration(0));
}

TEST(CoreLagTest, KeepsTheLargestLatenessForTwoWindows) {
  CoreLag lag;
  const TimePoint t = At(kWindow * 10);
  lag.Observe(t, t - Millis(3));
  lag.Observe(t + Millis(1), t - Millis(1));  // 2 ms late: smaller, the 3 ms stays
  EXPECT_EQ(lag.Recent(t + Millis(1)), Millis(3));
  lag.Observe(t + kWindow, t + kWindow - Millis(1));  // the next window: 1 ms, the 3 ms is its previous
  EXPECT_EQ(lag.Recent(t + kWindow), Millis(3));
  lag.Observe(t + 2 * kWindow, t + 2 * kWindow);  // two windows on: the 3 ms is gone
  EXPECT_EQ(lag.Recent(t + 2 * kWindow), Millis(1));
}

TEST(CoreLagTest, AnIdleCoreForgetsWithoutObserving) {
  CoreLag lag;
  const TimePoint t = At(kWindow * 10);
  lag.Observe(t, t - Millis(20));
  EXPECT_EQ(lag.Recent(t + kWindow), Millis(20));  // still within the next window
  EXPECT_EQ(lag.Recent(t + 2 * kWindow), Duration(0));
}

TEST(CoreLagTest, AGapOfWindowsDropsThePrevious) {
  CoreLag lag;
  const TimePoint t = At(kWindow * 10);
  lag.Observe(t, t - Millis(20));
  lag.Observe(t + 3 * kWindow, t + 3 * kWindow - Millis(1));
  EXPECT_EQ(lag.Recent(t + 3 * kWindow), Millis(1));
}

TEST(CoreLagTest, EarlyIsNotNegative) {
  CoreLag lag;
  const TimePoint t = At(kWindow * 10);
  lag.Observe(t, t + Millis(1));
  EXPECT_EQ(lag.Recent(t), Duration(0));
}

}  // namespace
}  // namespace tbms
