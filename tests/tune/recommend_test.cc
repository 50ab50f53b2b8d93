// The tuner's recommendation against the talk's formulas on a table of cases.
#include "tbms/tune/recommend.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

// T_b = 10 + 2 (b - 1) ms: what `--simulate m=10:2` profiles to.
BatchCurve Linear(int max_batch, double single_ms = 10, double per_item_ms = 2) {
  BatchCurve c{.model = "m", .batch_ms = {}};
  for (int b = 1; b <= max_batch; ++b) c.batch_ms.push_back(single_ms + per_item_ms * (b - 1));
  return c;
}

TEST(Evaluate, AppliesTheFormulas) {
  const OperatingPoint p = Evaluate(Linear(16), 4, 2, {.qps = 300, .lag_ms = 40});
  EXPECT_DOUBLE_EQ(p.batch_ms, 16);
  EXPECT_DOUBLE_EQ(p.qps_max, 250);                      // 4 x 1000 / 16
  EXPECT_NEAR(p.queue_delay_ms, 3 * 1000.0 / 150, 1e-9);  // 3 more items at 150 QPS per replica
  EXPECT_NEAR(p.lag_ms, 16 + 1000.0 / 150 * 3 / 2, 1e-9);
  EXPECT_DOUBLE_EQ(p.occupancy, 0.6);                     // 150 / 250
  EXPECT_DOUBLE_EQ(p.cost_ms, 4);
  EXPECT_TRUE(p.meets());
}

struct Case {
  const char* name;
  TuneGoal goal;
  bool met;
  int batch, replicas;
  double lag_ms;
  bool needs_more_replicas;
};

class RecommendTable : public testing::TestWithParam<Case> {};

TEST_P(RecommendTable, PicksTheFewestReplicasThenTheLowestLag) {
  const Case& c = GetParam();
  const Recommendation r = Recommend(Linear(16), c.goal);
  EXPECT_EQ(r.met, c.met);
  EXPECT_EQ(r.best.batch_size, c.batch);
  EXPECT_EQ(r.best.replicas, c.replicas);
  EXPECT_NEAR(r.best.lag_ms, c.lag_ms, 1e-6);
  EXPECT_EQ(r.needs_more_replicas, c.needs_more_replicas);
  // The chosen point is what Evaluate says of it.
  const OperatingPoint again = Evaluate(Linear(16), c.batch, c.replicas, c.goal);
  EXPECT_DOUBLE_EQ(again.lag_ms, r.best.lag_ms);
  EXPECT_DOUBLE_EQ(again.occupancy, r.best.occupancy);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RecommendTable,
    testing::Values(
        // Light load: one item at a time on one replica, occupancy 50%.
        Case{"light", {.qps = 50, .lag_ms = 30}, true, 1, 1, 10, false},
        // One replica needs batch 12 to carry 300 QPS at 80% (12000/32 = 375 x 0.8 = 300)
        // and then lags 32 + 18.3 ms > 40; two replicas at batch 3 meet both: 14 + 6.7 ms.
        Case{"more replicas satisfy both", {.qps = 300, .lag_ms = 40}, true, 3, 2, 14 + 1000.0 / 150, true},
        // With a looser lag one replica does it, at the smallest batch that carries the QPS.
        Case{"one replica, batched", {.qps = 300, .lag_ms = 60}, true, 12, 1, 32 + 1000.0 / 300 * 11 / 2, false},
        // Nothing is faster than one item alone (10 ms): the closest carries the QPS on
        // ceil(300 / 80) = 4 replicas at batch 1.
        Case{"lag below one item", {.qps = 300, .lag_ms = 5}, false, 1, 4, 10, false},
        // Two replicas cannot carry 10000 QPS: the least occupied point, batch 16.
        Case{"too few replicas", {.qps = 10000, .lag_ms = 1000, .max_replicas = 2}, false, 16, 2,
             40 + 1000.0 / 5000 * 15 / 2, false},
        // A full occupancy budget lets one replica run batch 3 at 100%: 3000/14 = 214.3 QPS.
        Case{"occupancy 1", {.qps = 3000.0 / 14, .lag_ms = 40, .max_occupancy = 1}, true, 3, 1,
             14 + 14.0 / 3, false}),
    [](const testing::TestParamInfo<Case>& info) {
      std::string name = info.param.name;
      for (char& ch : name) {
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

TEST(Recommend, AGoalExactlyAtTheLimitsIsMet) {
  const BatchCurve one{.model = "m", .batch_ms = {10}};
  const Recommendation r = Recommend(one, {.qps = 80, .lag_ms = 10, .max_occupancy = 0.8});
  EXPECT_TRUE(r.met);
  EXPECT_DOUBLE_EQ(r.best.occupancy, 0.8);
}

TEST(Recommend, ListsEveryBatchSizeAndTheLagByReplicas) {
  const Recommendation r = Recommend(Linear(16), {.qps = 300, .lag_ms = 40, .max_replicas = 8});
  ASSERT_EQ(r.one_replica.size(), 16u);
  ASSERT_EQ(r.fewest_replicas.size(), 16u);
  EXPECT_FALSE(r.one_replica[0].meets_qps);  // 300 QPS at batch 1: occupancy 3
  EXPECT_EQ(r.fewest_replicas[0].replicas, 4);
  EXPECT_EQ(r.fewest_replicas[11].replicas, 1);
  ASSERT_EQ(r.lag_by_replicas.size(), 8u);
  EXPECT_NEAR(r.lag_by_replicas[0], 32 + 1000.0 / 300 * 11 / 2, 1e-9);  // only batch >= 12 carries it
  EXPECT_NEAR(r.lag_by_replicas[1], 14 + 1000.0 / 150, 1e-9);
  EXPECT_DOUBLE_EQ(r.lag_by_replicas[3], 10);  // 4 replicas: batch 1, 75% busy
  // More replicas than batch 1 needs only add wait for nothing: the lowest lag stays 10.
  EXPECT_DOUBLE_EQ(r.lag_by_replicas[7], 10);
}

TEST(Recommend, NoReplicaCountCarriesTheQpsLeavesZeros) {
  const Recommendation r = Recommend(Linear(4), {.qps = 1e6, .lag_ms = 100, .max_replicas = 3});
  EXPECT_FALSE(r.met);
  for (double lag : r.lag_by_replicas) EXPECT_EQ(lag, 0);
}

TEST(ValidateTuneGoal, NamesTheBadField) {
  EXPECT_TRUE(ValidateTuneGoal({.qps = 1, .lag_ms = 1}).ok());
  struct Bad {
    TuneGoal goal;
    const char* message;
  };
  for (const Bad& bad : {Bad{{.qps = 0, .lag_ms = 1}, "qps"}, Bad{{.qps = 2e7, .lag_ms = 1}, "qps"},
                         Bad{{.qps = 1, .lag_ms = 0}, "lag"}, Bad{{.qps = 1, .lag_ms = 1, .max_occupancy = 0}, "occupancy"},
                         Bad{{.qps = 1, .lag_ms = 1, .max_occupancy = 1.5}, "occupancy"},
                         Bad{{.qps = 1, .lag_ms = 1, .max_replicas = 0}, "replicas"},
                         Bad{{.qps = 1, .lag_ms = 1, .max_replicas = 5000}, "replicas"}}) {
    const Status s = ValidateTuneGoal(bad.goal);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
    EXPECT_NE(s.message().find(bad.message), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace tbms
