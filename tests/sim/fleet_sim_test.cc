#include "tbms/sim/fleet_sim.h"
#include "tbms/sim/ramp.h"

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

// Callers who guess every est at twice the model's time: embedding's 70 ms
// is past tloc, so a cold fleet never launches it and never learns
// otherwise; a fleet whose servers warm up ([warmup] count 8) plans on the
// models' own times from its first try.
TEST(FleetSim, AWarmedUpFleetPlansOnTheModelsOwnTimes) {
  FleetOptions o = Talk({8, 2, 2, 2});
  for (FleetModel& m : o.models) m.est_ms *= 2;
  o.rate_qps = 50;
  o.requests = 1000;
  auto cold = RunFleet(o);
  ASSERT_TRUE(cold.ok()) << cold.status().message();
  EXPECT_EQ(cold->top_answered, 0u);
  o.warmup = 8;
  auto warm = RunFleet(o);
  ASSERT_TRUE(warm.ok()) << warm.status().message();
  EXPECT_EQ(warm->answered, 1000u);
  EXPECT_GT(warm->top_pct, 99.0);
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
  EXPECT_TRUE(bad([](FleetOptions& o) { o.warmup = 3; }));  // too few to plan on
  EXPECT_TRUE(bad([](FleetOptions& o) { o.warmup = 101; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.straggler_rate = 2; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.trace = {Duration(5), Duration(1)}; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.trace = {Duration(-1)}; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.workers = -1; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.workers = 2, o.hop_ms = -1; }));
  EXPECT_TRUE(bad([](FleetOptions& o) { o.models[3].local = true; }));  // local needs workers
  EXPECT_TRUE(bad([](FleetOptions& o) {  // with workers, something must run on them
    o.workers = 2;
    for (FleetModel& m : o.models) m.local = true;
  }));
  EXPECT_FALSE(bad([](FleetOptions&) {}));
  EXPECT_FALSE(ParseBalance("random").ok());
  EXPECT_EQ(ParseBalance("least-loaded").value(), Balance::kLeastLoaded);
}

// ------------------------------------------------- the Kubernetes topology

// deploy/k8s's shape: brokers keep keysearch, the workers run the rest.
FleetOptions Topology(std::vector<int> replicas, int brokers, int workers) {
  FleetOptions o = Talk(std::move(replicas));
  o.servers = brokers;
  o.workers = workers;
  o.models[3].local = true;
  o.hop_ms = 1;
  return o;
}

TEST(FleetTopology, AnIdleFleetAnswersWithTheTopModelOverTheHop) {
  FleetOptions o = Topology({2, 1, 1, 1}, 2, 3);
  o.rate_qps = 20;
  o.requests = 2000;
  auto r = RunFleet(o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->servers, 2);
  EXPECT_EQ(r->workers, 3);
  EXPECT_EQ(r->gpus, 3 * (2 + 1 + 1) + 2 * 1);  // the workers' GPUs, and keysearch on each broker
  EXPECT_EQ(r->models[0].gpus, 6);
  EXPECT_EQ(r->models[3].gpus, 2);
  EXPECT_EQ(r->answered, 2000u);
  EXPECT_GT(r->top_pct, 99.0);
  EXPECT_GE(r->p50_ms, 36.0);  // 35 ms on the worker and the 1 ms round trip
  EXPECT_LE(r->p999_ms, 50.001);
  EXPECT_GT(r->models[0].batches, 0u);  // counted where they ran: on the workers
  // Idle: the top model's time, hop included, over tloc (36 / 50 = 0.72),
  // read as Prometheus reads it: interpolated in its bucket, (0.7, 0.8].
  EXPECT_GT(r->budget_use_p90, 0.7);
  EXPECT_LE(r->budget_use_p90, 0.8);
}

TEST(FleetTopology, TheSignalRisesWithTheLoad) {
  FleetOptions light = Topology({4, 2, 2, 1}, 2, 3);
  light.tloc_ms = 80;
  light.requests = 5000;
  FleetOptions heavy = light;
  light.rate_qps = 150;
  heavy.rate_qps = 600;
  auto a = RunFleet(light), b = RunFleet(heavy);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LT(a->budget_use_p90, 0.7);
  EXPECT_GT(b->budget_use_p90, 1.0);  // the top model's queue: tries begin predicted late
  EXPECT_LT(b->top_pct, a->top_pct);
}

TEST(FleetRamp, TheAutoscalerScalesUpBeforeTheAnswersFall) {
  FleetOptions o = Topology({4, 2, 2, 1}, 2, 3);
  o.tloc_ms = 80;
  o.requests = 5000;
  RampOptions ramp;
  ramp.loads = {0.1, 0.2, 0.3, 0.4};
  ramp.target = 0.65;
  std::vector<double> heard;
  auto r = RunRamp(o, ramp, [&](const RampStep& s) { heard.push_back(s.load); });
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(heard, ramp.loads);
  ASSERT_EQ(r->steps.size(), 4u);
  EXPECT_EQ(r->steps[0].hpa_wants, 3);  // 0.54 / 0.65: within the tolerance
  EXPECT_FALSE(r->steps[1].answers_fell);
  EXPECT_EQ(r->signal_step, 1);   // 0.77 / 0.65 is past the 10% tolerance: 4 workers
  EXPECT_EQ(r->answers_step, 2);  // the top model loses share at 0.3
  EXPECT_TRUE(r->warns_first());
  EXPECT_NEAR(r->highest_target, r->steps[1].result.budget_use_p90 / 1.1, 1e-6);
  for (const RampStep& s : r->steps) EXPECT_GT(s.result.offered_qps, 0);

  ramp.target = 0.9;  // the same ramp: 0.9 waits until the answers have fallen
  r = RunRamp(o, ramp);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->warns_first());
}

TEST(FleetRamp, RejectsBadRamps) {
  const FleetOptions o = Topology({1, 1, 1, 1}, 1, 1);
  auto bad = [&](RampOptions r) { return RunRamp(o, r).status().code() == StatusCode::kInvalidArgument; };
  EXPECT_TRUE(bad({}));                                    // no steps
  EXPECT_TRUE(bad({.loads = {0.5, 0.5}}));                 // not rising
  EXPECT_TRUE(bad({.loads = {-1}}));
  EXPECT_TRUE(bad({.loads = {0.5}, .target = 0}));
  EXPECT_TRUE(bad({.loads = {0.5}, .answered_floor_pct = 101}));
  FleetOptions traced = o;
  traced.trace = {Duration(0), Duration(1)};
  EXPECT_EQ(RunRamp(traced, {.loads = {0.5}}).status().code(), StatusCode::kInvalidArgument);
}

TEST(FleetRamp, HpaDesiredFollowsTheAutoscalerRule) {
  EXPECT_EQ(HpaDesired(3, 0.95, 0.9), 3);  // within the 10% tolerance
  EXPECT_EQ(HpaDesired(3, 0.81, 0.9), 3);
  EXPECT_EQ(HpaDesired(3, 1.2, 0.9), 4);   // ceil(3 x 1.33)
  EXPECT_EQ(HpaDesired(3, 0.5, 0.9), 2);   // ceil(1.67)
  EXPECT_EQ(HpaDesired(4, 2.0, 1.0), 8);
}

}  // namespace
}  // namespace tbms
