// The online tuner: its decisions from a window, exactly; attached to a
// batcher on the virtual clock; and on a load ramp against fixed batching.
#include "tbms/tune/online.h"

#include <gtest/gtest.h>

#include "tbms/backends/simulated.h"
#include "tbms/common/virtual_clock.h"
#include "tbms/tune/online_ramp.h"
#include "tbms/tune/recommend.h"

namespace tbms {
namespace {

// T_b = 10 + 2 (b - 1) ms.
double Linear(int b) { return 10 + 2 * (b - 1); }

OnlineTuner Tuner() { return OnlineTuner({.lag_target = Millis(40), .max_batch_cap = 16}); }

TEST(OnlineTuner, IdleItBatchesGreedily) {
  OnlineTuner tuner = Tuner();
  const BatchingDecision d = tuner.Decide({}, Linear, 1);
  EXPECT_EQ(d.max_batch_size, 16);  // T_16 = 40 ms still fits: room for any burst
  EXPECT_EQ(d.max_queue_delay, Duration(0));
  EXPECT_EQ(d.margin, 1);
}

TEST(OnlineTuner, PlansTheBatchTheRateNeedsAndTheDelayToFillIt) {
  OnlineTuner tuner = Tuner();
  // 150 QPS: batch 3 is the first at most 80% busy (150 x 14 / 3000 = 0.7);
  // it fills in 2 x 6.67 ms, more than half of what 40 - 14 leaves: 13 ms.
  const BatchingDecision d = tuner.Decide({.qps = 150, .p99_lag = Millis(30), .samples = 150}, Linear, 1);
  EXPECT_EQ(d.max_batch_size, 16);
  EXPECT_EQ(d.max_queue_delay, Millis(13));
  // At 90 QPS batch 2 is 54% busy and fills in 11.1 ms, under (40 - 12) / 2.
  OnlineTuner slow = Tuner();
  EXPECT_EQ(slow.Decide({.qps = 90, .p99_lag = Millis(30), .samples = 90}, Linear, 1).max_queue_delay,
            Millis(1000.0 / 90));
  // Two replicas take 75 each: batch 1 is 75% busy, and needs no delay.
  OnlineTuner two = Tuner();
  const BatchingDecision d2 = two.Decide({.qps = 150, .p99_lag = Millis(30), .samples = 150}, Linear, 2);
  EXPECT_EQ(d2.max_batch_size, 16);
  EXPECT_EQ(d2.max_queue_delay, Duration(0));
}

TEST(OnlineTuner, AMissedTargetShrinksThePlanAndASafeOneGrowsItBack) {
  OnlineTuner tuner = Tuner();
  const WindowStats missed{.qps = 150, .p99_lag = Millis(50), .samples = 150};
  // Margin 0.8: at most 64% busy needs batch 4 (60%), and (32 - 16) / 2 = 8 ms may fill it.
  const BatchingDecision first = tuner.Decide(missed, Linear, 1);
  EXPECT_DOUBLE_EQ(first.margin, 0.8);
  EXPECT_EQ(first.max_queue_delay, Millis(8));
  // Margin 0.64: at most 51.2% busy needs batch 6 (50%), and (25.6 - 20) / 2 = 2.8 ms.
  const BatchingDecision d = tuner.Decide(missed, Linear, 1);
  EXPECT_DOUBLE_EQ(d.margin, 0.64);
  EXPECT_NEAR(d.max_queue_delay.count(), 2800, 1);
  // Between 0.8 x and 1 x the target: held.
  EXPECT_DOUBLE_EQ(tuner.Decide({.qps = 150, .p99_lag = Millis(35), .samples = 150}, Linear, 1).margin, 0.64);
  // Too few answers to judge: held.
  EXPECT_DOUBLE_EQ(tuner.Decide({.qps = 150, .p99_lag = Millis(90), .samples = 5}, Linear, 1).margin, 0.64);
  // Well under: back up by a step.
  EXPECT_NEAR(tuner.Decide({.qps = 150, .p99_lag = Millis(20), .samples = 150}, Linear, 1).margin, 0.69, 1e-12);
  for (int i = 0; i < 20; ++i) tuner.Decide({.qps = 150, .p99_lag = Millis(20), .samples = 150}, Linear, 1);
  EXPECT_DOUBLE_EQ(tuner.margin(), 1);
  for (int i = 0; i < 20; ++i) tuner.Decide(missed, Linear, 1);
  EXPECT_DOUBLE_EQ(tuner.margin(), 0.3);
}

TEST(OnlineTuner, NeverPlansABatchSlowerThanTheTarget) {
  OnlineTuner tuner({.lag_target = Millis(25), .max_batch_cap = 16});
  // T_8 = 24 fits 25 ms, T_9 = 26 does not.
  EXPECT_EQ(tuner.Decide({.qps = 10, .p99_lag = Millis(12), .samples = 10}, Linear, 1).max_batch_size, 8);
}

TEST(OnlineTuner, OverloadedItShipsTheBiggestBatchesAtOnce) {
  OnlineTuner tuner = Tuner();
  // 1000 QPS: not even batch 16 (400 QPS) carries it.
  const BatchingDecision d = tuner.Decide({.qps = 1000, .p99_lag = Millis(30), .samples = 150}, Linear, 1);
  EXPECT_EQ(d.max_batch_size, 16);
  EXPECT_EQ(d.max_queue_delay, Duration(0));  // 16 items take the whole 40 ms: no time to wait
}

class NullSink final : public ItemSink {
 public:
  void OnItemDone(uint64_t, StatusOr<Answer>) override { ++done; }
  int done = 0;
};

TEST(OnlineBatching, DecidesEveryPeriodFromWhatTheBatcherSaw) {
  VirtualClock clock;
  auto sim = SimulatedExecutor::Create({.model = "m", .base = Millis(8), .per_item = Millis(2)}, &clock);
  ASSERT_TRUE(sim.ok());
  NullSink sink;
  Batcher::Options options;
  options.model = "m";
  options.max_batch_size = 16;
  auto batcher = Batcher::Create(options, &clock, sim->get(), &sink);
  ASSERT_TRUE(batcher.ok());
  auto online = OnlineBatching::Create({.lag_target = Millis(40), .max_batch_cap = 16}, batcher->get(), &clock);
  ASSERT_TRUE(online.ok()) << online.status().message();
  const auto inputs = std::make_shared<const Inputs>("q");
  // 150 QPS, off the period's edges, for 3 s.
  for (int i = 0; i < 450; ++i) {
    const TimePoint at = TimePoint{} + Millis(3 + i * 20.0 / 3);
    clock.AdvanceTo(at);
    ASSERT_TRUE((*batcher)->Enqueue({.token = uint64_t(i), .inputs = inputs, .deadline = at + Millis(1000),
                                     .est = Millis(10)}).ok());
  }
  clock.AdvanceTo(TimePoint{} + std::chrono::seconds(3));
  EXPECT_EQ((*online)->decisions(), 3u);
  EXPECT_DOUBLE_EQ((*online)->last_window().qps, 150);
  EXPECT_GT((*online)->last_window().samples, 100u);
  EXPECT_LT((*online)->last_window().p99_lag, Millis(40));
  // What it decided is what the batcher now batches with.
  EXPECT_EQ((*batcher)->batching().max_batch_size, (*online)->last().max_batch_size);
  EXPECT_EQ((*batcher)->batching().max_queue_delay, (*online)->last().max_queue_delay);
  EXPECT_GT((*online)->last().max_queue_delay, Duration(0));  // 150 QPS needs batches of 3
  online->reset();  // stops its timer
  ASSERT_TRUE(clock.RunUntilIdle());
  EXPECT_EQ(sink.done, 450);
}

TEST(OnlineBatching, RefusesBadOptions) {
  VirtualClock clock;
  auto sim = SimulatedExecutor::Create({.model = "m", .base = Millis(8)}, &clock);
  NullSink sink;
  Batcher::Options options;
  options.model = "m";
  auto batcher = Batcher::Create(options, &clock, sim->get(), &sink);
  ASSERT_TRUE(batcher.ok());
  for (const OnlineTunerOptions& bad :
       {OnlineTunerOptions{.lag_target = Duration(0)}, OnlineTunerOptions{.lag_target = Millis(9), .max_batch_cap = 0},
        OnlineTunerOptions{.lag_target = Millis(9), .max_occupancy = 0},
        OnlineTunerOptions{.lag_target = Millis(9), .period = Millis(1)},
        OnlineTunerOptions{.lag_target = Millis(9), .decrease = 1}}) {
    EXPECT_EQ(OnlineBatching::Create(bad, batcher->get(), &clock).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(UpAndDown, ClimbsAndComesBackWithoutRepeatingTheTop) {
  EXPECT_EQ(UpAndDown({1, 2, 3}), (std::vector<double>{1, 2, 3, 2, 1}));
  EXPECT_EQ(UpAndDown({5}), (std::vector<double>{5}));
}

}  // namespace
}  // namespace tbms

namespace tbms {
namespace {

// A GPU-like model, T_b = 35 + (b - 1) ms, on one replica, the load rising
// from 20 to 200 QPS and back, 10 s per step.
TEST(RunOnlineRamp, TheOnlineTunerHoldsTheTargetWhereTheFixedConfigurationMissesIt) {
  OnlineRampOptions o;
  for (int b = 1; b <= 16; ++b) o.curve.batch_ms.push_back(35 + (b - 1));
  o.curve.model = "embedding";
  o.lag_target = Millis(100);
  o.qps = UpAndDown({20, 56, 92, 128, 164, 200});
  // Fixed: what tbms tune recommends for 200 QPS (batch 12, 55 ms), and greedy.
  const Recommendation rec = Recommend(o.curve, {.qps = 200, .lag_ms = 100});
  ASSERT_EQ(rec.best.replicas, 1);
  o.configs = {{"online", true, 16, Duration(0)},
               {"tuned", false, rec.best.batch_size, Millis(rec.best.queue_delay_ms)},
               {"greedy", false, 16, Duration(0)}};
  auto steps = RunOnlineRamp(o);
  ASSERT_TRUE(steps.ok()) << steps.status().message();
  ASSERT_EQ(steps->size(), 11u);
  int tuned_over = 0;
  double online_busy = 0, greedy_busy = 0;
  for (const RampStepResult& s : *steps) {
    EXPECT_LE(s.outcomes[0].p99_ms, 100) << s.qps;
    tuned_over += s.outcomes[1].p99_ms > 100;
    online_busy += s.outcomes[0].busy_ms_per_response;
    greedy_busy += s.outcomes[2].busy_ms_per_response;
  }
  EXPECT_GE(tuned_over, 1);
  // Waiting for batches where the target allows costs the device less per answer.
  EXPECT_LT(online_busy, 0.95 * greedy_busy);
  // At the peak the tuner waits for batches; idle it does not.
  EXPECT_GT(steps->at(5).outcomes[0].max_queue_delay_ms, 0);
}

TEST(RunOnlineRamp, RefusesBadRamps) {
  OnlineRampOptions o;
  o.curve.batch_ms = {10, 12};
  o.lag_target = Millis(40);
  o.max_batch_cap = 2;
  EXPECT_EQ(RunOnlineRamp(o).status().code(), StatusCode::kInvalidArgument);  // no steps
  o.qps = {10};
  o.max_batch_cap = 4;
  EXPECT_EQ(RunOnlineRamp(o).status().code(), StatusCode::kInvalidArgument);  // cap beyond the curve
  o.max_batch_cap = 2;
  o.configs = {{"big", false, 3, Duration(0)}};
  EXPECT_EQ(RunOnlineRamp(o).status().code(), StatusCode::kInvalidArgument);
  o.configs = {{"ok", false, 2, Duration(0)}};
  o.step = Millis(10);
  EXPECT_EQ(RunOnlineRamp(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tbms
