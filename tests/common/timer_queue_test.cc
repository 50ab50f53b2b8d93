// Guards TimerQueue and VirtualClock, the engine under every Clock: timers
// fire in due-time order and, at equal times, in scheduling order; Cancel is a
// no-op on fired or unknown ids and a reused slot never fires a stale entry;
// NextDue skips cancelled timers; callbacks may schedule and cancel while
// AdvanceTo runs, and see Now() equal to their own due time; a timer scheduled
// in the past runs at now; RunUntilIdle stops at its limit.
#include "tbms/common/timer_queue.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "tbms/common/virtual_clock.h"

namespace tbms {
namespace {

TimePoint At(double ms) { return AtMillis(ms); }

// Pops every timer due at or before `now`, running each, and returns how many ran.
int RunDue(TimerQueue& q, TimePoint now) {
  int n = 0;
  while (auto due = q.PopDue(now)) {
    due->fn();
    ++n;
  }
  return n;
}

// ---------------------------------------------------------------- TimerQueue

// Regression: cancelled far-future entries (a try's deadline timer) must not
// pile up in the heap until their time comes.
TEST(TimerQueueTest, CancelledEntriesDoNotAccumulate) {
  TimerQueue q;
  std::vector<TimerId> ids;
  int fired = 0;
  for (int i = 0; i < 100000; ++i) {
    ids.push_back(q.Schedule(AtMillis(1000 + i), [&] { ++fired; }));
    if (i % 10 != 0) q.Cancel(ids.back());
  }
  EXPECT_EQ(q.live(), 10000u);
  EXPECT_LE(q.TEST_heap_size(), 2 * q.live() + 1024);
  while (auto due = q.PopDue(AtMillis(1e9))) due->fn();
  EXPECT_EQ(fired, 10000);
  EXPECT_EQ(q.live(), 0u);
}

TEST(TimerQueueTest, EmptyQueueHasNothingDue) {
  TimerQueue q;
  EXPECT_FALSE(q.NextDue().has_value());
  EXPECT_FALSE(q.PopDue(TimePoint::max()).has_value());
  EXPECT_EQ(q.live(), 0u);
}

TEST(TimerQueueTest, IdsAreNeverNoTimerAndAreDistinct) {
  TimerQueue q;
  const TimerId a = q.Schedule(At(1), [] {});
  const TimerId b = q.Schedule(At(1), [] {});
  EXPECT_NE(a, kNoTimer);
  EXPECT_NE(b, kNoTimer);
  EXPECT_NE(a, b);
  EXPECT_EQ(q.live(), 2u);
}

TEST(TimerQueueTest, PopsInTimeOrderThenSchedulingOrder) {
  TimerQueue q;
  std::vector<std::string> fired;
  q.Schedule(At(3), [&] { fired.push_back("c3"); });
  q.Schedule(At(1), [&] { fired.push_back("a1"); });
  q.Schedule(At(2), [&] { fired.push_back("b2-first"); });
  q.Schedule(At(2), [&] { fired.push_back("b2-second"); });
  q.Schedule(At(1), [&] { fired.push_back("a1-second"); });
  q.Schedule(At(2), [&] { fired.push_back("b2-third"); });

  std::vector<TimePoint> times;
  while (auto due = q.PopDue(At(10))) {
    times.push_back(due->at);
    due->fn();
  }
  EXPECT_EQ(fired, (std::vector<std::string>{"a1", "a1-second", "b2-first", "b2-second",
                                             "b2-third", "c3"}));
  EXPECT_EQ(times, (std::vector<TimePoint>{At(1), At(1), At(2), At(2), At(2), At(3)}));
  EXPECT_EQ(q.live(), 0u);
}

TEST(TimerQueueTest, PopDueReturnsOnlyTimersAtOrBeforeNow) {
  TimerQueue q;
  q.Schedule(At(5), [] {});
  EXPECT_FALSE(q.PopDue(At(5) - Duration(1)).has_value());
  EXPECT_EQ(q.live(), 1u);
  auto due = q.PopDue(At(5));  // due exactly now counts
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->at, At(5));
  EXPECT_EQ(q.live(), 0u);
}

TEST(TimerQueueTest, CancelledTimerNeverFires) {
  TimerQueue q;
  int a = 0, b = 0;
  const TimerId ta = q.Schedule(At(1), [&] { ++a; });
  q.Schedule(At(2), [&] { ++b; });
  q.Cancel(ta);
  EXPECT_EQ(q.live(), 1u);
  EXPECT_EQ(RunDue(q, At(10)), 1);
  EXPECT_EQ(a, 0);
  EXPECT_EQ(b, 1);
}

TEST(TimerQueueTest, CancelTwiceUnknownAndNoTimerAreNoOps) {
  TimerQueue q;
  int fired = 0;
  const TimerId t = q.Schedule(At(1), [&] { ++fired; });
  q.Schedule(At(1), [&] { ++fired; });
  q.Cancel(t);
  q.Cancel(t);
  q.Cancel(kNoTimer);
  q.Cancel(TimerId{0xFFFF'FFFF'0000'0001ULL});  // slot far beyond any allocated
  EXPECT_EQ(q.live(), 1u);
  EXPECT_EQ(RunDue(q, At(10)), 1);
  EXPECT_EQ(fired, 1);
}

TEST(TimerQueueTest, CancellingAFiredTimerDoesNotCancelTheSlotsNextTimer) {
  TimerQueue q;
  int old_fired = 0, new_fired = 0;
  const TimerId old_id = q.Schedule(At(1), [&] { ++old_fired; });
  EXPECT_EQ(RunDue(q, At(1)), 1);
  // The freed slot is reused by the next timer.
  const TimerId new_id = q.Schedule(At(2), [&] { ++new_fired; });
  EXPECT_NE(new_id, old_id);
  q.Cancel(old_id);  // fired already: must be a no-op
  EXPECT_EQ(q.live(), 1u);
  EXPECT_EQ(RunDue(q, At(10)), 1);
  EXPECT_EQ(old_fired, 1);
  EXPECT_EQ(new_fired, 1);
}

// Regression guard: a cancelled timer's heap entry stays in the heap; when its
// slot is reused by a later timer, that stale entry must not fire the new
// callback at the old (earlier) time, nor fire it twice.
TEST(TimerQueueTest, ReusedSlotNeverFiresStaleEntry) {
  TimerQueue q;
  std::vector<std::pair<std::string, TimePoint>> fired;
  const TimerId stale = q.Schedule(At(1), [&] { fired.emplace_back("stale", At(1)); });
  q.Cancel(stale);
  const TimerId fresh = q.Schedule(At(5), [&] { fired.emplace_back("fresh", At(5)); });
  EXPECT_NE(fresh, stale);
  EXPECT_EQ(q.live(), 1u);

  // At 1 the stale entry is at the top but must be skipped.
  EXPECT_FALSE(q.PopDue(At(1)).has_value());
  EXPECT_EQ(q.NextDue(), At(5));
  auto due = q.PopDue(At(10));
  ASSERT_TRUE(due.has_value());
  EXPECT_EQ(due->at, At(5));
  due->fn();
  EXPECT_FALSE(q.PopDue(At(10)).has_value());
  ASSERT_EQ(fired.size(), 1u);
  EXPECT_EQ(fired[0].first, "fresh");
  // The old id still does nothing once its slot holds another timer.
  q.Cancel(stale);
  EXPECT_EQ(q.live(), 0u);
}

TEST(TimerQueueTest, ManyCancelReuseCyclesFireOnlyLiveTimers) {
  TimerQueue q;
  std::vector<int> fired;
  std::vector<TimerId> ids;
  for (int round = 0; round < 50; ++round) {
    // Schedule and cancel one at an early time, then schedule a keeper later.
    const TimerId dead = q.Schedule(At(1), [&fired] { fired.push_back(-1); });
    q.Cancel(dead);
    ids.push_back(q.Schedule(At(100 + round), [&fired, round] { fired.push_back(round); }));
  }
  EXPECT_EQ(q.live(), 50u);
  EXPECT_EQ(q.NextDue(), At(100));
  EXPECT_EQ(RunDue(q, At(1000)), 50);
  ASSERT_EQ(fired.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(fired[static_cast<size_t>(i)], i);
}

TEST(TimerQueueTest, NextDueSkipsCancelledTimers) {
  TimerQueue q;
  const TimerId a = q.Schedule(At(1), [] {});
  const TimerId b = q.Schedule(At(2), [] {});
  q.Schedule(At(3), [] {});
  EXPECT_EQ(q.NextDue(), At(1));
  q.Cancel(a);
  EXPECT_EQ(q.NextDue(), At(2));
  q.Cancel(b);
  EXPECT_EQ(q.NextDue(), At(3));
  EXPECT_EQ(q.live(), 1u);
}

TEST(TimerQueueTest, NextDueIsEmptyWhenAllCancelled) {
  TimerQueue q;
  const TimerId a = q.Schedule(At(1), [] {});
  const TimerId b = q.Schedule(At(2), [] {});
  q.Cancel(b);
  q.Cancel(a);
  EXPECT_FALSE(q.NextDue().has_value());
  EXPECT_FALSE(q.PopDue(TimePoint::max()).has_value());
  EXPECT_EQ(q.live(), 0u);
}

TEST(TimerQueueTest, CallerMayScheduleFromAPoppedCallback) {
  TimerQueue q;
  std::vector<std::string> fired;
  q.Schedule(At(1), [&] {
    fired.push_back("outer");
    q.Schedule(At(1), [&] { fired.push_back("inner-same-time"); });
  });
  q.Schedule(At(1), [&] { fired.push_back("sibling"); });
  EXPECT_EQ(RunDue(q, At(1)), 3);
  EXPECT_EQ(fired, (std::vector<std::string>{"outer", "sibling", "inner-same-time"}));
}

// -------------------------------------------------------------- VirtualClock

TEST(VirtualClockTest, StartsAtGivenTimeAndDefaultsToZero) {
  VirtualClock zero;
  EXPECT_EQ(zero.Now(), TimePoint{});
  VirtualClock later(At(42));
  EXPECT_EQ(later.Now(), At(42));
}

TEST(VirtualClockTest, AdvanceToFiresInOrderAndEndsAtTarget) {
  VirtualClock clock;
  std::vector<std::pair<std::string, TimePoint>> fired;
  auto rec = [&](std::string name) {
    return [&fired, &clock, name] { fired.emplace_back(name, clock.Now()); };
  };
  clock.Schedule(At(30), rec("c"));
  clock.Schedule(At(10), rec("a1"));
  clock.Schedule(At(20), rec("b"));
  clock.Schedule(At(10), rec("a2"));
  clock.Schedule(At(50), rec("late"));

  clock.AdvanceTo(At(30));
  EXPECT_EQ(clock.Now(), At(30));
  const std::vector<std::pair<std::string, TimePoint>> want = {
      {"a1", At(10)}, {"a2", At(10)}, {"b", At(20)}, {"c", At(30)}};
  EXPECT_EQ(fired, want);
  EXPECT_EQ(clock.pending_timers(), 1u);

  clock.AdvanceTo(At(49.999));
  EXPECT_EQ(fired.size(), 4u);
  EXPECT_EQ(clock.Now(), At(49.999));
  clock.Advance(Millis(0.001));
  ASSERT_EQ(fired.size(), 5u);
  EXPECT_EQ(fired.back(), std::make_pair(std::string("late"), At(50)));
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(VirtualClockTest, NowEqualsDueTimeInsideEachCallback) {
  VirtualClock clock(At(1));
  std::vector<TimePoint> seen;
  for (double t : {7.0, 2.5, 2.5, 9.125}) {
    clock.Schedule(At(t), [&] { seen.push_back(clock.Now()); });
  }
  clock.AdvanceTo(At(100));
  EXPECT_EQ(seen, (std::vector<TimePoint>{At(2.5), At(2.5), At(7), At(9.125)}));
  EXPECT_EQ(clock.Now(), At(100));
}

TEST(VirtualClockTest, AdvanceToThePastNeitherMovesTimeBackNorFires) {
  VirtualClock clock(At(10));
  int fired = 0;
  clock.Schedule(At(10), [&] { ++fired; });
  clock.AdvanceTo(At(5));
  EXPECT_EQ(clock.Now(), At(10));
  EXPECT_EQ(fired, 0);  // due at 10 is after 5
  clock.AdvanceTo(At(10));
  EXPECT_EQ(fired, 1);
}

TEST(VirtualClockTest, SchedulingInThePastRunsAtNow) {
  VirtualClock clock(At(10));
  std::vector<TimePoint> seen;
  clock.Schedule(At(3), [&] { seen.push_back(clock.Now()); });
  clock.Schedule(TimePoint{}, [&] { seen.push_back(clock.Now()); });
  EXPECT_TRUE(seen.empty());  // never synchronously inside Schedule
  clock.AdvanceTo(At(10));    // same time: the due timers still run
  EXPECT_EQ(seen, (std::vector<TimePoint>{At(10), At(10)}));
  EXPECT_EQ(clock.Now(), At(10));
}

TEST(VirtualClockTest, PastTimerScheduledFromCallbackRunsAtCallbacksTimeAfterPeersDue) {
  VirtualClock clock;
  std::vector<std::pair<std::string, TimePoint>> fired;
  clock.Schedule(At(5), [&] {
    fired.emplace_back("first", clock.Now());
    clock.Schedule(At(1), [&] { fired.emplace_back("past", clock.Now()); });
  });
  clock.Schedule(At(5), [&] { fired.emplace_back("second", clock.Now()); });
  clock.Schedule(At(6), [&] { fired.emplace_back("later", clock.Now()); });
  clock.AdvanceTo(At(10));
  const std::vector<std::pair<std::string, TimePoint>> want = {
      {"first", At(5)}, {"second", At(5)}, {"past", At(5)}, {"later", At(6)}};
  EXPECT_EQ(fired, want);
}

TEST(VirtualClockTest, CallbackMayScheduleTimersThatFireInTheSameAdvance) {
  VirtualClock clock;
  std::vector<TimePoint> seen;
  // A chain: each callback schedules the next 2 ms later, five links.
  std::function<void()> link = [&] {
    seen.push_back(clock.Now());
    if (seen.size() < 5) clock.Schedule(clock.Now() + Millis(2), link);
  };
  clock.Schedule(At(1), link);
  clock.AdvanceTo(At(6));
  EXPECT_EQ(seen, (std::vector<TimePoint>{At(1), At(3), At(5)}));
  EXPECT_EQ(clock.Now(), At(6));
  EXPECT_EQ(clock.pending_timers(), 1u);  // the link due at 7 waits
  clock.AdvanceTo(At(100));
  EXPECT_EQ(seen, (std::vector<TimePoint>{At(1), At(3), At(5), At(7), At(9)}));
}

TEST(VirtualClockTest, CallbackMayCancelALaterTimer) {
  VirtualClock clock;
  int victim_fired = 0;
  TimerId victim = kNoTimer;
  clock.Schedule(At(1), [&] { clock.Cancel(victim); });
  victim = clock.Schedule(At(2), [&] { ++victim_fired; });
  clock.AdvanceTo(At(10));
  EXPECT_EQ(victim_fired, 0);
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(VirtualClockTest, CallbackMayCancelAPeerDueAtTheSameTime) {
  VirtualClock clock;
  int peer_fired = 0;
  TimerId peer = kNoTimer;
  clock.Schedule(At(1), [&] { clock.Cancel(peer); });
  peer = clock.Schedule(At(1), [&] { ++peer_fired; });
  clock.AdvanceTo(At(1));
  EXPECT_EQ(peer_fired, 0);
}

// Regression guard: a callback cancelling its own (already fired) id, after
// scheduling a new timer that reuses the same slot, must not cancel the new one.
TEST(VirtualClockTest, CallbackCancellingItsOwnIdAfterReuseKeepsTheNewTimer) {
  VirtualClock clock;
  TimerId self = kNoTimer;
  int next_fired = 0;
  self = clock.Schedule(At(1), [&] {
    const TimerId next = clock.Schedule(At(2), [&] { ++next_fired; });
    EXPECT_NE(next, self);
    clock.Cancel(self);
  });
  clock.AdvanceTo(At(10));
  EXPECT_EQ(next_fired, 1);
}

TEST(VirtualClockTest, RunUntilIdleFiresEverythingAndLeavesClockAtLastDueTime) {
  VirtualClock clock;
  std::vector<TimePoint> seen;
  clock.Schedule(At(4), [&] {
    seen.push_back(clock.Now());
    clock.Schedule(At(8), [&] { seen.push_back(clock.Now()); });
  });
  clock.Schedule(At(2), [&] { seen.push_back(clock.Now()); });
  const TimerId cancelled = clock.Schedule(At(50), [&] { seen.push_back(clock.Now()); });
  clock.Cancel(cancelled);
  EXPECT_TRUE(clock.RunUntilIdle());
  EXPECT_EQ(seen, (std::vector<TimePoint>{At(2), At(4), At(8)}));
  EXPECT_EQ(clock.Now(), At(8));  // not the cancelled timer's 50
  EXPECT_EQ(clock.pending_timers(), 0u);
}

TEST(VirtualClockTest, RunUntilIdleWithNothingPendingIsTrueAndKeepsTime) {
  VirtualClock clock(At(3));
  EXPECT_TRUE(clock.RunUntilIdle());
  EXPECT_EQ(clock.Now(), At(3));
}

TEST(VirtualClockTest, RunUntilIdleStopsAtItsLimitOnASelfReschedulingTimer) {
  VirtualClock clock;
  int fired = 0;
  std::function<void()> forever = [&] {
    ++fired;
    clock.Schedule(clock.Now() + Millis(1), forever);
  };
  clock.Schedule(At(1), forever);
  EXPECT_FALSE(clock.RunUntilIdle(100));
  EXPECT_EQ(fired, 100);
  EXPECT_EQ(clock.Now(), At(100));
  EXPECT_EQ(clock.pending_timers(), 1u);
}

TEST(VirtualClockTest, RunUntilIdleReachingIdleExactlyAtTheLimitIsTrue) {
  VirtualClock clock;
  int fired = 0;
  for (int i = 1; i <= 3; ++i) clock.Schedule(At(i), [&] { ++fired; });
  EXPECT_TRUE(clock.RunUntilIdle(3));
  EXPECT_EQ(fired, 3);
  EXPECT_EQ(clock.Now(), At(3));
}

TEST(VirtualClockTest, RunUntilIdleBelowTheCountIsFalse) {
  VirtualClock clock;
  int fired = 0;
  for (int i = 1; i <= 3; ++i) clock.Schedule(At(i), [&] { ++fired; });
  EXPECT_FALSE(clock.RunUntilIdle(2));
  EXPECT_EQ(fired, 2);
  EXPECT_EQ(clock.Now(), At(2));
  EXPECT_EQ(clock.pending_timers(), 1u);
}

}  // namespace
}  // namespace tbms
