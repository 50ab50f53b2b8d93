// Profiling a batch-time curve: exact on the virtual clock, the median of
// the repeats, errors and timeouts reported, real cores waited for.
#include "tbms/tune/profile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <thread>

#include "tbms/backends/simulated.h"

namespace tbms {
namespace {

TEST(ProfileBatchCurve, ASimulatedModelProfilesToItsNominalTimes) {
  VirtualClock clock;
  auto sim = SimulatedExecutor::Create({.model = "svm", .base = Millis(23), .per_item = Millis(2)}, &clock);
  ASSERT_TRUE(sim.ok());
  std::vector<int> progress;
  auto curve = ProfileBatchCurve("svm", RunOnVirtualClock(**sim, clock), {.max_batch = 6, .repeats = 3},
                                 [&](int b, int max) {
                                   EXPECT_EQ(max, 6);
                                   progress.push_back(b);
                                 });
  ASSERT_TRUE(curve.ok()) << curve.status().message();
  EXPECT_EQ(curve->model, "svm");
  ASSERT_EQ(curve->max_batch(), 6);
  for (int b = 1; b <= 6; ++b) EXPECT_DOUBLE_EQ(curve->at(b), 23 + 2 * b) << b;
  EXPECT_EQ(progress, (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

// Returns the service times it is given, in order, one per run.
StatusOr<Duration> Next(std::deque<StatusOr<Duration>>& times) {
  StatusOr<Duration> t = times.front();
  times.pop_front();
  return t;
}

TEST(ProfileBatchCurve, TakesTheMedianOfTheRepeatsAfterAWarmUp) {
  std::deque<StatusOr<Duration>> times = {Millis(500),  // the warm-up: not counted
                                          Millis(5), Millis(1), Millis(9), Millis(3), Millis(7)};
  std::vector<size_t> sizes;
  auto curve = ProfileBatchCurve("m", [&](const Batch& b) {
    sizes.push_back(b.items.size());
    return Next(times);
  }, {.max_batch = 1, .repeats = 5});
  ASSERT_TRUE(curve.ok());
  EXPECT_DOUBLE_EQ(curve->at(1), 5);
  EXPECT_EQ(sizes, std::vector<size_t>(6, 1));
}

TEST(ProfileBatchTimes, KeepsEveryRepeatOfEachSize) {
  std::deque<StatusOr<Duration>> times = {Millis(500), Millis(5), Millis(1),   // size 1: warm-up, 2 repeats
                                          Millis(900), Millis(8), Millis(6)};  // size 2
  auto profile = ProfileBatchTimes([&](const Batch&) { return Next(times); }, {.max_batch = 2, .repeats = 2});
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(*profile, (BatchTimes{{Millis(5), Millis(1)}, {Millis(8), Millis(6)}}));
}

// A [warmup]: a simulated model's times cost no real time, and seed a
// service-time model so that each size is planned at its own time.
TEST(ProfileSimulated, SeedsTheServiceTimesOfEverySize) {
  auto times = ProfileSimulated({.model = "svm", .base = Millis(23), .per_item = Millis(2), .failure_rate = 1,
                                 .hang_rate = 1, .replicas = 4},
                                {.max_batch = 4, .repeats = 8});  // faults are for tries, not for a warm-up
  ASSERT_TRUE(times.ok()) << times.status().message();
  ASSERT_EQ(times->size(), 4u);
  EXPECT_EQ((*times)[2], std::vector<Duration>(8, Millis(29)));
  ServiceTimeModel model;
  const TimePoint at = TimePoint() + std::chrono::seconds(3);
  EXPECT_TRUE(model.Estimate(3, Millis(25), at).guessed);
  SeedBatchTimes(*times, at, model);
  for (int b = 1; b <= 4; ++b) {
    const LatencyEstimate e = model.Estimate(b, Millis(25), at);
    EXPECT_FALSE(e.guessed) << b;
    EXPECT_NEAR(ToMillis(e.expected), 23 + 2 * b, b <= 2 ? 0 : 1.5) << b;  // 3 and 4 share a class, on the curve
  }
}

TEST(ProfileBatchTimes, RunsOnlyTheSizesAsked) {
  std::vector<size_t> sizes;
  auto profile = ProfileBatchTimes([&](const Batch& b) -> StatusOr<Duration> {
    sizes.push_back(b.items.size());
    return Millis(static_cast<double>(b.items.size()));
  }, {.max_batch = 4, .repeats = 1, .sizes = {1, 4}});
  ASSERT_TRUE(profile.ok());
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 1, 4, 4}));  // each a warm-up run, then the repeat
  EXPECT_EQ(*profile, (BatchTimes{{Millis(1)}, {}, {}, {Millis(4)}}));
  for (const std::vector<int>& bad : {std::vector<int>{0}, {5}, {2, 2}, {3, 1}}) {
    auto refused = ProfileBatchTimes([](const Batch&) { return Millis(1); }, {.max_batch = 4, .repeats = 1, .sizes = bad});
    EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << ::testing::PrintToString(bad);
  }
}

// A [warmup] runs what a batch-size class can keep: small batches all, a
// large class a window's worth, so its cost does not grow with the square
// of max_batch.
TEST(WarmupSizes, EverySizeWhereTheClassKeepsEveryRun) {
  EXPECT_EQ(WarmupSizes(8, 8), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(WarmupSizes(1, 100), std::vector<int>{1});
  // 100 runs of a size fill a class's window: one size per class, its largest.
  EXPECT_EQ(WarmupSizes(8, 100), (std::vector<int>{1, 2, 4, 8}));
  EXPECT_EQ(WarmupSizes(6, 100), (std::vector<int>{1, 2, 4, 6}));
}

TEST(WarmupSizes, ALargeMaxBatchRunsAWindowOfEachClass) {
  const int window = ServiceTimeOptions{}.window;
  for (const int count : {8, 20, 100}) {
    const std::vector<int> sizes = WarmupSizes(4096, count);
    ASSERT_FALSE(sizes.empty());
    EXPECT_EQ(sizes.front(), 1);
    EXPECT_EQ(sizes.back(), 4096);
    EXPECT_TRUE(std::is_sorted(sizes.begin(), sizes.end()) &&
                std::adjacent_find(sizes.begin(), sizes.end()) == sizes.end());
    std::map<int, int> per_class;
    for (const int b : sizes) ++per_class[ServiceTimeModel::ClassOf(b)];
    for (const auto& [c, n] : per_class) EXPECT_LE(n * count, std::max(window, count)) << "class " << c;
    EXPECT_LE(sizes.size(), 10u * static_cast<size_t>(std::max(1, window / count))) << count;
  }
  EXPECT_EQ(WarmupSizes(64, 8).size(), 32u + 16u);  // 1-32 all, then 16 of 33-64
}

// Seeded from the sizes it ran, every size up to max_batch plans on the
// model's own curve.
TEST(WarmupSizes, SeedAnEstimateOfEverySize) {
  const int max_batch = 256;
  auto times = ProfileSimulated({.model = "svm", .base = Millis(23), .per_item = Millis(1)},
                                {.max_batch = max_batch, .repeats = 8, .sizes = WarmupSizes(max_batch, 8)});
  ASSERT_TRUE(times.ok()) << times.status().message();
  ServiceTimeModel model;
  const TimePoint at = TimePoint() + std::chrono::seconds(1);
  SeedBatchTimes(*times, at, model);
  for (int b = 1; b <= max_batch; ++b) {
    const LatencyEstimate e = model.Estimate(b, Millis(25), at);
    EXPECT_FALSE(e.guessed) << b;
    EXPECT_NEAR(ToMillis(e.expected), 23 + b, 0.02 * (23 + b)) << b;
  }
}

TEST(ProfileBatchCurve, EachItemIsItsOwnTry) {
  auto curve = ProfileBatchCurve("m", [](const Batch& b) -> StatusOr<Duration> {
    if (b.items.size() > 1) {
      EXPECT_NE(b.items.front(), b.items.back());
    }
    EXPECT_EQ(b.items.back()->question, "q?");
    return Millis(1);
  }, {.max_batch = 3, .repeats = 1, .question = "q?"});
  EXPECT_TRUE(curve.ok());
}

TEST(ProfileBatchCurve, StopsAtTheFirstError) {
  int runs = 0;
  auto curve = ProfileBatchCurve("m", [&](const Batch&) -> StatusOr<Duration> {
    if (++runs == 4) return Unavailable("GPU fell off the bus");
    return Millis(1);
  }, {.max_batch = 8, .repeats = 2});
  ASSERT_FALSE(curve.ok());
  EXPECT_EQ(curve.status().message(), "GPU fell off the bus");
  EXPECT_EQ(runs, 4);
}

TEST(ProfileBatchCurve, RefusesBadOptions) {
  auto never = [](const Batch&) -> StatusOr<Duration> { return Millis(1); };
  EXPECT_EQ(ProfileBatchCurve("m", never, {.max_batch = 0}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ProfileBatchCurve("m", never, {.max_batch = 5000}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ProfileBatchCurve("m", never, {.repeats = 0}).status().code(), StatusCode::kInvalidArgument);
}

TEST(RunOnVirtualClock, ReportsAFailedBatch) {
  VirtualClock clock;
  auto sim = SimulatedExecutor::Create({.model = "m", .base = Millis(1), .failure_rate = 1}, &clock);
  ASSERT_TRUE(sim.ok());
  Batch batch;
  batch.items.push_back(std::make_shared<const Inputs>("q"));
  EXPECT_FALSE(RunOnVirtualClock(**sim, clock)(batch).ok());
}

// A backend on its own thread, handing results back through the core, as
// the thread-pool executors do; `answer` false: it never answers.
class ThreadedExecutor final : public Executor {
 public:
  ThreadedExecutor(CoreRunner* core, bool answer) : core_(core), answer_(answer) {}
  ~ThreadedExecutor() override {
    for (std::thread& t : threads_) t.join();
  }
  int replicas() const override { return 1; }
  void Run(int, const Batch& batch, Done done) override {
    if (!answer_) {
      held_ = std::move(done);  // keeps the batch alive
      held_batch = &batch;
      return;
    }
    const size_t n = batch.items.size();
    threads_.emplace_back([this, n, done = std::move(done)]() mutable {
      BatchResult r{.service_time = Millis(3.0 * n), .answers = std::vector<StatusOr<Answer>>(n, Answer("1"))};
      core_->Post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    });
  }
  const Batch* held_batch = nullptr;  // the one it never answers

 private:
  CoreRunner* core_;
  bool answer_;
  Done held_;
  std::vector<std::thread> threads_;
};

TEST(RunOnCore, WaitsForTheResultHandedBackToTheCore) {
  CoreRunner core;
  ThreadedExecutor executor(&core, true);
  auto curve = ProfileBatchCurve("m", RunOnCore(executor, core, std::chrono::seconds(30)),
                                 {.max_batch = 3, .repeats = 1});
  ASSERT_TRUE(curve.ok()) << curve.status().message();
  EXPECT_EQ(curve->batch_ms, (std::vector<double>{3, 6, 9}));
}

// ... and what can stop is told to: its items' tries are over, its work abandoned.
TEST(RunOnCore, ABatchThatNeverFinishesTimesOut) {
  CoreRunner core;
  ThreadedExecutor executor(&core, false);
  Batch batch;
  batch.items.push_back(std::make_shared<const Inputs>("q"));
  const auto t = RunOnCore(executor, core, Millis(1))(batch);
  EXPECT_EQ(t.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(t.status().message().find("did not finish"), std::string::npos);
  ASSERT_NE(executor.held_batch, nullptr);
  EXPECT_TRUE(executor.held_batch->items[0]->over.is_set());
  EXPECT_TRUE(executor.held_batch->abandoned.cancelled());
}

}  // namespace
}  // namespace tbms
