#include "tbms/sim/fleet_sim.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

// The talk's four models: a batch of n takes MS + MS/10 * (n - 1).
FleetOptions Talk(std::vector<int> replicas) {
  FleetOptions o;
  const std::pair<const char*, double> models[] = {{"embedding", 35}, {"svm", 25}, {"bayes", 15}, {"keysearch", 5}};
  double quality = 1.0;
  for (size_t i = 0; i < 4; ++i) {
    FleetModel m;
    m.name = models[i].first;
    m.est_ms = models[i].second;
    m.per_item_ms = models[i].second / 10;
    m.base_ms = models[i].second - m.per_item_ms;
    m.replicas = replicas[i];
    m.quality = quality;
    quality -= 0.2;
    o.models.push_back(m);
  }
  o.tloc_ms = 50;
  o.cross_request = 1;
  o.cross_lag_ms = 10;
  return o;
}

TEST(FleetSim, CapacityOfTheTopModel) {
  const FleetOptions o = Talk({1, 1, 1, 1});
  // 8 items in 35 + 3.5 * 7 = 59.5 ms; within 50 ms the largest batch is 5 (49 ms).
  EXPECT_NEAR(CapacityQps(o.models[0], 1), 8000 / 59.5, 1e-9);
  EXPECT_NEAR(CapacityQps(o.models[0], 10, 50), 10 * 5000 / 49.0, 1e-9);
  EXPECT_EQ(CapacityQps(o.models[0], 1, 30), 0);
}

TEST(FleetSim, AmpleCapacityIsAnsweredByTheTopModel) {
  FleetOptions o = Talk({8, 2, 2, 2});
  o.rate_qps = 50;  // a twentieth of the top model's capacity
  o.requests = 2000;
  auto r = RunFleet(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->requests, 2000u);
  EXPECT_EQ(r->gpus, 14);
  EXPECT_EQ(r->answered, 2000u);
  EXPECT_GT(r->top_pct, 99.0);
  EXPECT_GT(r->effective_quality, 0.99);
  EXPECT_LE(r->p999_ms, 50.001);  // no answer: the deadline fires one tick after D
  EXPECT_GE(r->p50_ms, 35.0);  // one item takes 35 ms
  // Embedding, started at once, is on track: no try hedges (at_risk).
  EXPECT_LT(r->extra_attempts_pct, 1.0);
  ASSERT_TRUE(r->bound.has_value());
  EXPECT_LE(r->top_answered, r->bound->upper_bound);
  EXPECT_EQ(r->bound->upper_bound, 2000u);
  EXPECT_EQ(r->bound_floor, 1.0);  // no jitter

  // With the talk's est timer, embedding's 35 ms passes svm's latest start
  // (50 - 25 - 1 guard = 24 ms): every try hedges svm at 24 ms, and cancels
  // it when embedding answers.
  o.hedge = Hedge::kExpected;
  auto timer = RunFleet(o);
  ASSERT_TRUE(timer.ok()) << timer.status().message();
  EXPECT_EQ(timer->answered, 2000u);
  EXPECT_GT(timer->extra_attempts_pct, 95.0);
}

TEST(FleetSim, FourTimesOverloadDowngradesInsteadOfMissing) {
  FleetOptions o = Talk({1, 4, 4, 4});
  o.rate_qps = 4 * CapacityQps(o.models[0], 1);
  o.requests = 5000;
  auto r = RunFleet(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_GT(r->answered_pct, 99.0);
  EXPECT_LT(r->top_pct, 30.0);
  EXPECT_GT(r->top_pct, 2.0);
  EXPECT_LE(r->p999_ms, 50.001);
  EXPECT_LT(r->effective_quality, 0.95);
  EXPECT_GT(r->effective_quality, 0.5);
  uint64_t by_model = 0;
  for (const ModelResult& m : r->models) by_model += m.answered;
  EXPECT_EQ(by_model, r->answered);
  // Without jitter the bound is on nominal times, and TBMS is within it.
  ASSERT_TRUE(r->bound.has_value());
  EXPECT_LE(r->top_answered, r->bound->upper_bound);
  EXPECT_LE(r->bound->greedy, r->bound->upper_bound);
  EXPECT_GT(r->top_vs_bound, 0.0);
  EXPECT_LE(r->top_vs_bound, 1.0);
  EXPECT_GT(r->models[0].utilization, 0.5);
}

TEST(FleetSim, DeterministicForASeed) {
  FleetOptions o = Talk({2, 1, 1, 1});
  o.servers = 3;
  o.balance = Balance::kLeastLoaded;
  o.rate_qps = 3 * 2 * CapacityQps(o.models[0], 1);  // 2x overload of the top model
  o.cv = 2;
  o.requests = 4000;
  o.jitter = SimulatedExecutor::Jitter::kLognormal;
  o.jitter_spread = 0.1;
  o.straggler_rate = 0.01;
  auto a = RunFleet(o);
  auto b = RunFleet(o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->answered, b->answered);
  EXPECT_EQ(a->top_answered, b->top_answered);
  EXPECT_EQ(a->p99_ms, b->p99_ms);
  EXPECT_EQ(a->p999_ms, b->p999_ms);
  EXPECT_EQ(a->extra_attempts_pct, b->extra_attempts_pct);
  EXPECT_EQ(a->simulated_s, b->simulated_s);
  EXPECT_EQ(a->bound->upper_bound, b->bound->upper_bound);
  for (size_t m = 0; m < 4; ++m) EXPECT_EQ(a->models[m].batches, b->models[m].batches);
  EXPECT_LT(a->bound_floor, 1.0);  // lognormal jitter: some batch was faster than nominal
  EXPECT_LE(a->bound->upper_bound, a->bound->capacity_bound);
  EXPECT_GE(a->fastest_bound->upper_bound, a->bound->upper_bound);  // faster batches, larger bound
  o.seed = 2;
  auto c = RunFleet(o);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->top_answered, c->top_answered);
}

TEST(FleetSim, ShardedFleetSplitsTheLoad) {
  FleetOptions o = Talk({2, 2, 2, 2});
  o.servers = 4;
  o.rate_qps = 150;  // 19 per embedding GPU: below the 28.6 it serves one at a time
  o.requests = 4000;
  for (Balance balance : {Balance::kRoundRobin, Balance::kLeastLoaded}) {
    o.balance = balance;
    auto r = RunFleet(o);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->servers, 4);
    EXPECT_EQ(r->gpus, 32);
    EXPECT_EQ(r->models[0].gpus, 8);
    EXPECT_GT(r->answered_pct, 99.5);
    EXPECT_GT(r->top_pct, 85.0);
    EXPECT_LE(r->top_answered, r->bound->upper_bound);
  }
}

TEST(FleetSim, ReplaysARecordedTrace) {
  FleetOptions o = Talk({1, 1, 1, 1});
  for (int i = 0; i < 10; ++i) o.trace.push_back(Duration(i * 100'000));  // every 100 ms
  auto r = RunFleet(o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->requests, 10u);
  EXPECT_EQ(r->top_answered, 10u);
  EXPECT_DOUBLE_EQ(r->p50_ms, 35.0);  // alone, one item: exactly 35 ms
  EXPECT_NEAR(r->offered_qps, 10.0, 1e-9);
  EXPECT_NEAR(r->simulated_s, 0.935, 1e-9);  // the last arrives at 0.9 s, answered 35 ms later
}

TEST(FleetSim, RejectsBadOptions) {
  auto bad = [](auto edit) {
    FleetOptions o = Talk({1, 1, 1, 1});
    o.requests = 10;
    edit(o);
    return RunFleet(o).status().code() == StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(bad([](FleetOptions& o) { o.models.clear(); }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.models[1].replicas = 0; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.models[0].max_batch = 0; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.models[0].base_ms = -1; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.models[0].name.clear(); }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.models[2].quality = -0.5; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.servers = 0; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.rate_qps = 0; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.cv = 0.5; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.requests = 0; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.tloc_ms = 0; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.cross_request = -1; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.cross_lag_ms = -1; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.max_queue = 0; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.straggler_rate = 2; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.trace = {Duration(5), Duration(1)}; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.trace = {Duration(-1)}; }));
  EXPECT_FALSE(bad([](FleetOptions&) {}));
  EXPECT_FALSE(ParseBalance("random").ok());
  EXPECT_EQ(ParseBalance("least-loaded").value(), Balance::kLeastLoaded);
}

}  // namespace
}  // namespace tbms
