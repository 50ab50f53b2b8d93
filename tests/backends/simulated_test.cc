// Guards SimulatedExecutor, the timing simulator behind tests, the simulator
// and the demo: service = base + per_item * n exactly without jitter; results
// come back on the clock's timers, never inside Run; failures and hangs give
// every item UNAVAILABLE (a hang after hang_time); uniform jitter stays within
// its bounds and is deterministic for a seed; stragglers are slower by their
// factor; Create rejects invalid options; ParseJitter knows the three names.
#include "tbms/backends/simulated.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tbms/common/virtual_clock.h"

namespace tbms {
namespace {

TimePoint At(double ms) { return AtMillis(ms); }

Batch MakeBatch(int n, const std::string& prefix = "q") {
  Batch b;
  for (int i = 0; i < n; ++i) {
    b.items.push_back(std::make_shared<Inputs>(prefix + std::to_string(i)));
  }
  return b;
}

SimulatedExecutor::Options Basic() {
  SimulatedExecutor::Options o;
  o.model = "sim";
  o.base = Millis(10);
  o.per_item = Millis(2);
  return o;
}

std::unique_ptr<SimulatedExecutor> Make(SimulatedExecutor::Options o, Clock* clock) {
  auto e = SimulatedExecutor::Create(std::move(o), clock);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return std::move(e).value();
}

// One completed run: when it completed and what it returned.
struct Completion {
  TimePoint at;
  BatchResult result;
};

// Runs `batch` at the clock's current time and drives the clock until it
// completes; the batch outlives the run as the Executor contract requires.
Completion RunToCompletion(SimulatedExecutor& e, VirtualClock& clock, const Batch& batch,
                           int replica = 0) {
  std::optional<Completion> done;
  e.Run(replica, batch, [&](BatchResult r) { done = Completion{clock.Now(), std::move(r)}; });
  EXPECT_FALSE(done.has_value()) << "done called inside Run";
  EXPECT_TRUE(clock.RunUntilIdle());
  EXPECT_TRUE(done.has_value());
  return done ? std::move(*done) : Completion{};
}

// Service times of `runs` consecutive single-item batches.
std::vector<Duration> ServiceTimes(SimulatedExecutor::Options o, int runs, int batch_size = 1) {
  VirtualClock clock;
  auto e = Make(std::move(o), &clock);
  const Batch batch = MakeBatch(batch_size);
  std::vector<Duration> out;
  for (int i = 0; i < runs; ++i) {
    const TimePoint start = clock.Now();
    Completion c = RunToCompletion(*e, clock, batch);
    EXPECT_EQ(c.at - start, c.result.service_time);  // measured = simulated
    out.push_back(c.result.service_time);
  }
  return out;
}

// ------------------------------------------------------------ timing & answers

TEST(SimulatedExecutorTest, ServiceIsBasePlusPerItemTimesBatchSize) {
  VirtualClock clock(At(100));
  auto e = Make(Basic(), &clock);
  EXPECT_EQ(e->Nominal(0), Millis(10));
  EXPECT_EQ(e->Nominal(1), Millis(12));
  EXPECT_EQ(e->Nominal(8), Millis(26));
  for (int n : {1, 3, 8}) {
    const TimePoint start = clock.Now();
    Completion c = RunToCompletion(*e, clock, MakeBatch(n));
    EXPECT_EQ(c.result.service_time, Millis(10) + Millis(2) * n) << "n=" << n;
    EXPECT_EQ(c.at, start + Millis(10) + Millis(2) * n) << "n=" << n;
  }
}

TEST(SimulatedExecutorTest, AnswersEchoModelAndQuestionInOrderAsJsonStrings) {
  VirtualClock clock;
  auto o = Basic();
  o.model = "m\"1";
  auto e = Make(o, &clock);
  Batch batch;
  for (const char* q : {"first", "sec\"ond", "third"}) {
    batch.items.push_back(std::make_shared<Inputs>(q));
  }
  Completion c = RunToCompletion(*e, clock, batch);
  ASSERT_EQ(c.result.answers.size(), 3u);
  ASSERT_TRUE(c.result.answers[0].ok());
  EXPECT_EQ(c.result.answers[0].value(), R"("m\"1 answer to: first")");
  ASSERT_TRUE(c.result.answers[1].ok());
  EXPECT_EQ(c.result.answers[1].value(), R"("m\"1 answer to: sec\"ond")");
  ASSERT_TRUE(c.result.answers[2].ok());
  EXPECT_EQ(c.result.answers[2].value(), R"("m\"1 answer to: third")");
}

TEST(SimulatedExecutorTest, CompletesOnTheClockNotInsideRun) {
  VirtualClock clock(At(5));
  auto o = Basic();
  o.base = Duration(0);
  o.per_item = Duration(0);  // even a zero service time completes on a timer
  auto e = Make(o, &clock);
  const Batch batch = MakeBatch(2);
  int calls = 0;
  e->Run(0, batch, [&](BatchResult r) {
    ++calls;
    EXPECT_EQ(clock.Now(), At(5));
    EXPECT_EQ(r.service_time, Duration(0));
  });
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(clock.pending_timers(), 1u);
  clock.AdvanceTo(At(5));
  EXPECT_EQ(calls, 1);
  clock.AdvanceTo(At(1000));
  EXPECT_EQ(calls, 1);  // exactly once
}

TEST(SimulatedExecutorTest, DoneIsNotCalledBeforeServiceTimeElapses) {
  VirtualClock clock;
  auto e = Make(Basic(), &clock);
  const Batch batch = MakeBatch(1);
  int calls = 0;
  e->Run(0, batch, [&](BatchResult) { ++calls; });
  clock.AdvanceTo(At(12) - Duration(1));
  EXPECT_EQ(calls, 0);
  clock.AdvanceTo(At(12));
  EXPECT_EQ(calls, 1);
}

// Closed (the server's end), it calls no done, even after it is gone.
TEST(SimulatedExecutorTest, AClosedExecutorReportsNothing) {
  VirtualClock clock;
  auto e = Make(Basic(), &clock);
  const Batch batch = MakeBatch(1);
  int calls = 0;
  e->Run(0, batch, [&](BatchResult) { ++calls; });
  e->Close();
  e.reset();
  clock.AdvanceTo(At(1000));
  EXPECT_EQ(calls, 0);
}

TEST(SimulatedExecutorTest, ReplicasRunConcurrently) {
  VirtualClock clock;
  auto o = Basic();
  o.replicas = 2;
  auto e = Make(o, &clock);
  EXPECT_EQ(e->replicas(), 2);
  const Batch a = MakeBatch(1, "a");
  const Batch b = MakeBatch(4, "b");
  std::vector<std::pair<std::string, TimePoint>> done;
  e->Run(0, a, [&](BatchResult) { done.emplace_back("a", clock.Now()); });
  clock.AdvanceTo(At(1));
  e->Run(1, b, [&](BatchResult) { done.emplace_back("b", clock.Now()); });
  clock.AdvanceTo(At(100));
  const std::vector<std::pair<std::string, TimePoint>> want = {{"a", At(12)}, {"b", At(19)}};
  EXPECT_EQ(done, want);
}

TEST(SimulatedExecutorTest, EmptyBatchTakesBaseAndHasNoAnswers) {
  VirtualClock clock;
  auto e = Make(Basic(), &clock);
  Completion c = RunToCompletion(*e, clock, Batch{});
  EXPECT_EQ(c.at, At(10));
  EXPECT_TRUE(c.result.answers.empty());
}

// ------------------------------------------------------------ failures & hangs

TEST(SimulatedExecutorTest, FailureRateOneFailsEveryItemUnavailableAtNominalTime) {
  VirtualClock clock;
  auto o = Basic();
  o.failure_rate = 1.0;
  auto e = Make(o, &clock);
  for (int run = 0; run < 20; ++run) {
    const TimePoint start = clock.Now();
    Completion c = RunToCompletion(*e, clock, MakeBatch(3));
    EXPECT_EQ(c.at - start, Millis(16));
    ASSERT_EQ(c.result.answers.size(), 3u);
    for (const auto& a : c.result.answers) {
      ASSERT_FALSE(a.ok());
      EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
      EXPECT_EQ(a.status().message(), "sim: failed");
    }
  }
}

TEST(SimulatedExecutorTest, FailureRateZeroNeverFails) {
  VirtualClock clock;
  auto e = Make(Basic(), &clock);
  for (int run = 0; run < 200; ++run) {
    Completion c = RunToCompletion(*e, clock, MakeBatch(1));
    ASSERT_EQ(c.result.answers.size(), 1u);
    EXPECT_TRUE(c.result.answers[0].ok());
  }
}

TEST(SimulatedExecutorTest, HangKeepsReplicaForHangTimeThenFailsEveryItem) {
  VirtualClock clock(At(3));
  auto o = Basic();
  o.hang_rate = 1.0;
  o.failure_rate = 1.0;  // a hang is reported as a hang, not a failure
  o.hang_time = Millis(750);
  auto e = Make(o, &clock);
  Completion c = RunToCompletion(*e, clock, MakeBatch(2));
  EXPECT_EQ(c.at, At(753));
  EXPECT_EQ(c.result.service_time, Millis(750));
  ASSERT_EQ(c.result.answers.size(), 2u);
  for (const auto& a : c.result.answers) {
    ASSERT_FALSE(a.ok());
    EXPECT_EQ(a.status().code(), StatusCode::kUnavailable);
    EXPECT_EQ(a.status().message(), "sim: hung");
  }
}

TEST(SimulatedExecutorTest, DefaultHangTimeIsTenSeconds) {
  VirtualClock clock;
  auto o = Basic();
  o.hang_rate = 1.0;
  auto e = Make(o, &clock);
  Completion c = RunToCompletion(*e, clock, MakeBatch(1));
  EXPECT_EQ(c.at, TimePoint(std::chrono::seconds(10)));
}

TEST(SimulatedExecutorTest, PartialFailureRateIsDeterministicAndMixed) {
  auto o = Basic();
  o.failure_rate = 0.5;
  o.seed = 7;
  auto outcomes = [&] {
    VirtualClock clock;
    auto e = Make(o, &clock);
    std::vector<bool> ok;
    for (int run = 0; run < 200; ++run) {
      ok.push_back(RunToCompletion(*e, clock, MakeBatch(1)).result.answers[0].ok());
    }
    return ok;
  };
  const std::vector<bool> first = outcomes();
  EXPECT_EQ(first, outcomes());
  const auto failures = std::count(first.begin(), first.end(), false);
  EXPECT_GT(failures, 60);
  EXPECT_LT(failures, 140);
}

// ------------------------------------------------------------ jitter & stragglers

TEST(SimulatedExecutorTest, UniformJitterStaysWithinBoundsAndVaries) {
  auto o = Basic();
  o.base = Millis(100);
  o.per_item = Duration(0);
  o.jitter = SimulatedExecutor::Jitter::kUniform;
  o.jitter_spread = 0.2;
  const std::vector<Duration> times = ServiceTimes(o, 1000);
  Duration lo = Duration::max(), hi = Duration::min();
  for (Duration t : times) {
    EXPECT_GE(t, Millis(80));
    EXPECT_LE(t, Millis(120));
    lo = std::min(lo, t);
    hi = std::max(hi, t);
  }
  // It is jitter, not a constant: 1000 draws cover most of the range.
  EXPECT_LT(lo, Millis(82));
  EXPECT_GT(hi, Millis(118));
}

TEST(SimulatedExecutorTest, JitterIsDeterministicForASeed) {
  for (auto kind : {SimulatedExecutor::Jitter::kUniform, SimulatedExecutor::Jitter::kLognormal}) {
    auto o = Basic();
    o.jitter = kind;
    o.jitter_spread = 0.3;
    o.straggler_rate = 0.1;
    o.seed = 42;
    const auto a = ServiceTimes(o, 100);
    EXPECT_EQ(a, ServiceTimes(o, 100));
    o.seed = 43;
    EXPECT_NE(a, ServiceTimes(o, 100));
  }
}

TEST(SimulatedExecutorTest, LognormalJitterIsPositiveAndVaries) {
  auto o = Basic();
  o.jitter = SimulatedExecutor::Jitter::kLognormal;
  o.jitter_spread = 0.5;
  const std::vector<Duration> times = ServiceTimes(o, 500);
  int below = 0, above = 0;
  for (Duration t : times) {
    EXPECT_GT(t, Duration(0));
    below += t < Millis(12);
    above += t > Millis(12);
  }
  // The median factor is 1: about half on each side of nominal.
  EXPECT_GT(below, 150);
  EXPECT_GT(above, 150);
}

TEST(SimulatedExecutorTest, ZeroSpreadJitterIsExact) {
  auto o = Basic();
  o.jitter = SimulatedExecutor::Jitter::kUniform;
  o.jitter_spread = 0.0;
  for (Duration t : ServiceTimes(o, 20, /*batch_size=*/4)) EXPECT_EQ(t, Millis(18));
}

TEST(SimulatedExecutorTest, StragglerRateOneMultipliesByFactor) {
  auto o = Basic();
  o.straggler_rate = 1.0;
  o.straggler_factor = 3.5;
  for (Duration t : ServiceTimes(o, 10, /*batch_size=*/2)) EXPECT_EQ(t, Millis(14 * 3.5));
}

TEST(SimulatedExecutorTest, StragglersAreEitherNominalOrFactorSlower) {
  auto o = Basic();
  o.straggler_rate = 0.25;
  o.straggler_factor = 10.0;
  int slow = 0;
  for (Duration t : ServiceTimes(o, 400)) {
    if (t == Millis(120)) {
      ++slow;
    } else {
      EXPECT_EQ(t, Millis(12));
    }
  }
  EXPECT_GT(slow, 60);
  EXPECT_LT(slow, 140);
}

TEST(SimulatedExecutorTest, StragglerMultipliesJitteredTime) {
  auto o = Basic();
  o.base = Millis(100);
  o.per_item = Duration(0);
  o.jitter = SimulatedExecutor::Jitter::kUniform;
  o.jitter_spread = 0.1;
  o.straggler_rate = 1.0;
  o.straggler_factor = 2.0;
  for (Duration t : ServiceTimes(o, 200)) {
    EXPECT_GE(t, Millis(180));
    EXPECT_LE(t, Millis(220));
  }
}

// ------------------------------------------------------------ Create & ParseJitter

TEST(SimulatedExecutorCreateTest, AcceptsValidOptionsIncludingEdges) {
  VirtualClock clock;
  auto o = Basic();
  o.straggler_rate = 1.0;
  o.failure_rate = 0.0;
  o.hang_rate = 1.0;
  o.straggler_factor = 1.0;
  o.replicas = 100000;
  auto e = SimulatedExecutor::Create(o, &clock);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e.value()->replicas(), 100000);
}

TEST(SimulatedExecutorCreateTest, RejectsInvalidOptions) {
  VirtualClock clock;
  struct Case {
    const char* name;
    void (*mutate)(SimulatedExecutor::Options&);
  };
  const Case cases[] = {
      {"negative base", [](SimulatedExecutor::Options& o) { o.base = Duration(-1); }},
      {"negative per_item", [](SimulatedExecutor::Options& o) { o.per_item = Duration(-1); }},
      {"straggler_rate < 0", [](SimulatedExecutor::Options& o) { o.straggler_rate = -0.1; }},
      {"straggler_rate > 1", [](SimulatedExecutor::Options& o) { o.straggler_rate = 1.1; }},
      {"failure_rate < 0", [](SimulatedExecutor::Options& o) { o.failure_rate = -0.1; }},
      {"failure_rate > 1", [](SimulatedExecutor::Options& o) { o.failure_rate = 1.1; }},
      {"hang_rate < 0", [](SimulatedExecutor::Options& o) { o.hang_rate = -0.1; }},
      {"hang_rate > 1", [](SimulatedExecutor::Options& o) { o.hang_rate = 1.1; }},
      {"jitter_spread < 0", [](SimulatedExecutor::Options& o) { o.jitter_spread = -0.01; }},
      {"straggler_factor < 1", [](SimulatedExecutor::Options& o) { o.straggler_factor = 0.9; }},
      {"zero replicas", [](SimulatedExecutor::Options& o) { o.replicas = 0; }},
      {"too many replicas", [](SimulatedExecutor::Options& o) { o.replicas = 100001; }},
  };
  for (const Case& c : cases) {
    auto o = Basic();
    c.mutate(o);
    auto e = SimulatedExecutor::Create(o, &clock);
    ASSERT_FALSE(e.ok()) << c.name;
    EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(e.status().message().rfind("sim: ", 0), 0u)
        << c.name << ": the message names the model: " << e.status().message();
  }
}

TEST(SimulatedExecutorCreateTest, RejectsMissingClock) {
  auto e = SimulatedExecutor::Create(Basic(), nullptr);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

TEST(ParseJitterTest, KnownNames) {
  auto none = ParseJitter("none");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none.value(), SimulatedExecutor::Jitter::kNone);
  auto uniform = ParseJitter("uniform");
  ASSERT_TRUE(uniform.ok());
  EXPECT_EQ(uniform.value(), SimulatedExecutor::Jitter::kUniform);
  auto lognormal = ParseJitter("lognormal");
  ASSERT_TRUE(lognormal.ok());
  EXPECT_EQ(lognormal.value(), SimulatedExecutor::Jitter::kLognormal);
}

TEST(ParseJitterTest, UnknownNamesAreInvalidArgument) {
  for (const char* name : {"", "Uniform", "gaussian", "none "}) {
    auto j = ParseJitter(name);
    ASSERT_FALSE(j.ok()) << name;
    EXPECT_EQ(j.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_NE(j.status().message().find(std::string("'") + name + "'"), std::string::npos)
        << j.status().message();
  }
}

}  // namespace
}  // namespace tbms
