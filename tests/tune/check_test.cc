// The check of a recommendation with the real batcher on the virtual clock:
// seeded, so these are exact runs; the bands say how far the formulas' mean
// may sit from a Poisson run's.
#include "tbms/tune/check.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

BatchCurve Linear(int max_batch) {
  BatchCurve c{.model = "m", .batch_ms = {}};
  for (int b = 1; b <= max_batch; ++b) c.batch_ms.push_back(10 + 2 * (b - 1));
  return c;
}

TEST(CheckOnVirtualClock, OneItemAtATimeAtLowLoadTakesItsServiceTime) {
  const BatchCurve curve = Linear(8);
  const TuneGoal goal{.qps = 10, .lag_ms = 30};
  auto r = CheckOnVirtualClock(curve, Evaluate(curve, 1, 1, goal), goal.qps, 5000);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->requests, 5000u);
  EXPECT_EQ(r->refused, 0u);
  EXPECT_DOUBLE_EQ(r->mean_batch, 1);
  // M/D/1 at 10% busy waits 0.1 x 10 / (2 x 0.9) = 0.56 ms on average.
  EXPECT_GE(r->mean_lag_ms, 10);
  EXPECT_LT(r->mean_lag_ms, 11);
  EXPECT_NEAR(r->occupancy, 0.1, 0.01);
}

TEST(CheckOnVirtualClock, TheRecommendedPointLagsAboutAsPredicted) {
  const BatchCurve curve = Linear(16);
  const TuneGoal goal{.qps = 300, .lag_ms = 40};
  const Recommendation rec = Recommend(curve, goal);
  ASSERT_EQ(rec.best.batch_size, 3);
  ASSERT_EQ(rec.best.replicas, 2);
  auto r = CheckOnVirtualClock(curve, rec.best, goal.qps, 20000);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->refused, 0u);
  EXPECT_NEAR(r->mean_lag_ms, rec.best.lag_ms, rec.best.lag_ms * 0.25);
  EXPECT_LT(r->p99_lag_ms, goal.lag_ms * 2);
  EXPECT_GT(r->mean_batch, 1.5);
  EXPECT_LE(r->mean_batch, 3);
}

TEST(CheckOnVirtualClock, AnOverloadedPointShowsItsQueue) {
  const BatchCurve curve = Linear(4);
  const TuneGoal goal{.qps = 300, .lag_ms = 40};
  const OperatingPoint overloaded = Evaluate(curve, 1, 1, goal);  // 300 QPS on a 100 QPS replica
  auto r = CheckOnVirtualClock(curve, overloaded, goal.qps, 3000);
  ASSERT_TRUE(r.ok());
  EXPECT_GT(r->mean_lag_ms, 100 * overloaded.lag_ms);
  EXPECT_GT(r->occupancy, 0.99);
}

TEST(CheckOnVirtualClock, IsDeterministic) {
  const BatchCurve curve = Linear(8);
  const OperatingPoint p = Evaluate(curve, 4, 1, {.qps = 200, .lag_ms = 50});
  auto a = CheckOnVirtualClock(curve, p, 200, 2000, 7);
  auto b = CheckOnVirtualClock(curve, p, 200, 2000, 7);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->mean_lag_ms, b->mean_lag_ms);
  EXPECT_EQ(a->p99_lag_ms, b->p99_lag_ms);
}

TEST(CheckOnVirtualClock, RefusesWhatItCannotRun) {
  const BatchCurve curve = Linear(2);
  OperatingPoint p = Evaluate(curve, 2, 1, {.qps = 10, .lag_ms = 50});
  EXPECT_EQ(CheckOnVirtualClock(curve, p, 10, 0).status().code(), StatusCode::kInvalidArgument);
  p.batch_size = 3;
  EXPECT_EQ(CheckOnVirtualClock(curve, p, 10, 10).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tbms
