// Guards the Batcher's rules on a virtual clock, with exact times: when a
// batch goes (full batch, preferred size, max_queue_delay from the oldest
// item, deadline - P(batch)), which items it holds (priority, then earliest
// deadline, then arrival; at most max_batch_size), late drops (reported as
// DEADLINE_EXCEEDED on a timer, never inside Enqueue), Enqueue's rejections,
// Cancel, several replicas, replicas added, drained and unavailable while
// serving, the batch's deadline, learning service times, Predict's arithmetic,
// and Create's validation.
//
// The executor is a test double that records each batch and completes it on a
// clock timer after base + per_item * n, so every time below is arithmetic.
#include "tbms/batching/batcher.h"

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tbms/common/virtual_clock.h"
#include "tbms/report/stats.h"

namespace tbms {
namespace {

TimePoint At(double ms) { return AtMillis(ms); }

std::string FormatMs(TimePoint t) {
  std::ostringstream s;
  s << MillisSinceEpoch(t);
  return s.str();
}

// Runs each batch for base + per_item * n on the clock, answering "a:<question>".
// Fails the test if a replica is handed a batch while busy, or if a batch
// changes before its completion.
class FakeExecutor final : public Executor {
 public:
  FakeExecutor(Clock* clock, int replicas)
      : clock_(clock), busy_(static_cast<size_t>(replicas), false) {}

  int replicas() const override { return static_cast<int>(busy_.size()); }

  void Run(int replica, const Batch& batch, Done done) override {
    EXPECT_GE(replica, 0);
    EXPECT_LT(replica, replicas());
    const auto slot = static_cast<size_t>(replica);
    EXPECT_FALSE(busy_[slot]) << "replica " << replica << " given a batch while busy";
    busy_[slot] = true;

    std::vector<std::string> questions;
    for (const auto& in : batch.items) questions.push_back(in->question);
    std::ostringstream rec;
    rec << "r" << replica << "@" << FormatMs(clock_->Now()) << ":[";
    for (size_t i = 0; i < questions.size(); ++i) rec << (i ? "," : "") << questions[i];
    rec << "]";
    runs.push_back(rec.str());
    deadlines.push_back(batch.deadline);
    last = &batch;

    const Duration service = base + per_item * static_cast<int64_t>(questions.size());
    BatchResult result;
    result.service_time = reported.value_or(service);
    for (const std::string& q : questions) {
      if (fail) {
        result.answers.emplace_back(Unavailable("boom"));
      } else {
        result.answers.emplace_back("a:" + q);
      }
    }
    for (size_t i = 0; i < skip_answers && i < result.answers.size(); ++i) result.answers[i] = SkippedTryOver();
    for (size_t i = 0; i < drop_answers && !result.answers.empty(); ++i) {
      result.answers.pop_back();
    }
    clock_->Schedule(clock_->Now() + service,
                     [this, slot, &batch, questions, done = std::move(done),
                      result = std::move(result)]() mutable {
                       // The batch must stay alive and unchanged until done.
                       std::vector<std::string> now_questions;
                       for (const auto& in : batch.items) now_questions.push_back(in->question);
                       EXPECT_EQ(now_questions, questions);
                       busy_[slot] = false;
                       done(std::move(result));
                     });
  }

  StatusOr<int> AddReplica() override {
    busy_.push_back(false);
    return static_cast<int>(busy_.size()) - 1;
  }
  Status RemoveReplica(int replica) override {
    EXPECT_FALSE(busy_[static_cast<size_t>(replica)]) << "replica " << replica << " removed while busy";
    removed.push_back(replica);
    return OkStatus();
  }
  // As a failing GPU or a lost endpoint would.
  void MarkAvailable(int replica, bool available) { ReplicaAvailable(replica, available); }

  Duration base = Millis(10);
  Duration per_item{0};
  std::vector<TimePoint> deadlines;  // each batch's, as handed over
  std::vector<int> removed;          // replicas removed, in order
  std::optional<Duration> reported;  // service_time in the result, if not the real one
  Duration floor{0};                 // what ExpectedFloor says (a shared remote's word)
  Duration ExpectedFloor() const override { return floor; }
  bool StopsAbandonedWork() const override { return true; }  // as a remote call
  bool fail = false;                 // every item UNAVAILABLE
  size_t drop_answers = 0;           // return this many answers too few
  size_t skip_answers = 0;           // the first this many items skipped: their try was over
  std::vector<std::string> runs;     // "r<replica>@<ms>:[q1,q2]"
  const Batch* last = nullptr;       // the latest batch handed over (alive while it runs)

 private:
  Clock* const clock_;
  std::vector<bool> busy_;
};

// Records "<token>@<ms>:<CODE>" per outcome; fails the test if called while
// `in_call` (set around Enqueue and Cancel) is true.
class RecordingSink final : public ItemSink {
 public:
  explicit RecordingSink(const Clock* clock) : clock_(clock) {}

  void OnItemDone(uint64_t token, StatusOr<Answer> result) override {
    EXPECT_FALSE(in_call) << "sink called synchronously for token " << token;
    std::ostringstream s;
    s << token << "@" << FormatMs(clock_->Now()) << ":"
      << (result.ok() ? "OK" : std::string(StatusCodeName(result.status().code())));
    outcomes.push_back(s.str());
    details.push_back(result.ok() ? result.value() : result.status().message());
    if (on_done) on_done(token);
  }

  bool in_call = false;
  std::vector<std::string> outcomes;
  std::vector<std::string> details;  // answer or error message, per outcome
  std::function<void(uint64_t)> on_done;

 private:
  const Clock* const clock_;
};

Batcher::Options DefaultOptions() {
  Batcher::Options o;
  o.model = "m";
  o.max_batch_size = 4;
  o.max_queue_delay = Duration(0);
  return o;
}

using Strings = std::vector<std::string>;

class BatcherTest : public ::testing::Test {
 protected:
  void Make(Batcher::Options o, int replicas = 1) {
    batcher_.reset();
    executor_ = std::make_unique<FakeExecutor>(&clock_, replicas);
    auto b = Batcher::Create(std::move(o), &clock_, executor_.get(), &sink_);
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    batcher_ = std::move(b).value();
  }

  StatusOr<ItemId> Enqueue(uint64_t token, double deadline_ms, int priority = 0) {
    WorkItem item;
    item.token = token;
    item.inputs = std::make_shared<Inputs>("q" + std::to_string(token));
    item.deadline = At(deadline_ms);
    item.priority = priority;
    sink_.in_call = true;
    StatusOr<ItemId> id = batcher_->Enqueue(std::move(item));
    sink_.in_call = false;
    return id;
  }

  ItemId MustEnqueue(uint64_t token, double deadline_ms, int priority = 0) {
    StatusOr<ItemId> id = Enqueue(token, deadline_ms, priority);
    EXPECT_TRUE(id.ok()) << "token " << token << ": " << id.status().ToString();
    return id.ok() ? id.value() : ItemId{};
  }

  bool Cancel(const ItemId& id) {
    sink_.in_call = true;
    const bool cancelled = batcher_->Cancel(id);
    sink_.in_call = false;
    return cancelled;
  }

  // Feeds the batcher's service time model directly.
  void Seed(int batch_size, std::initializer_list<double> ms) {
    for (double m : ms) batcher_->service_times().Observe(batch_size, Millis(m));
  }

  static Batcher::Options LearnFast(Batcher::Options o = DefaultOptions()) {
    o.service_time.min_samples = 1;
    return o;
  }

  // Declared first, destroyed last: the batcher cancels its timer on the clock.
  VirtualClock clock_;
  RecordingSink sink_{&clock_};
  std::unique_ptr<FakeExecutor> executor_;
  std::unique_ptr<Batcher> batcher_;
};

// ------------------------------------------------------------------ Create

TEST_F(BatcherTest, CreateRejectsMissingCollaborators) {
  FakeExecutor exec(&clock_, 1);
  for (int missing = 0; missing < 3; ++missing) {
    auto b = Batcher::Create(DefaultOptions(), missing == 0 ? nullptr : &clock_,
                             missing == 1 ? nullptr : &exec, missing == 2 ? nullptr : &sink_);
    ASSERT_FALSE(b.ok()) << missing;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST_F(BatcherTest, CreateRejectsInvalidOptions) {
  FakeExecutor exec(&clock_, 1);
  struct Case {
    const char* name;
    std::function<void(Batcher::Options&)> mutate;
  };
  const std::vector<Case> cases = {
      {"max_batch_size 0", [](Batcher::Options& o) { o.max_batch_size = 0; }},
      {"max_batch_size 4097", [](Batcher::Options& o) { o.max_batch_size = 4097; }},
      {"preferred 0", [](Batcher::Options& o) { o.preferred_batch_sizes = {0}; }},
      {"preferred > max", [](Batcher::Options& o) { o.preferred_batch_sizes = {2, 5}; }},
      {"negative delay", [](Batcher::Options& o) { o.max_queue_delay = Duration(-1); }},
      {"queue size 0", [](Batcher::Options& o) { o.max_queue_size = 0; }},
      {"groups that place two replicas of one", [](Batcher::Options& o) { o.groups = {{.count = 2}}; }},
      {"a group of none", [](Batcher::Options& o) { o.groups = {{.count = 0}}; }},
      {"a share over 1", [](Batcher::Options& o) { o.groups = {{.count = 1, .share = 1.5}}; }},
  };
  for (const Case& c : cases) {
    Batcher::Options o = DefaultOptions();
    c.mutate(o);
    auto b = Batcher::Create(o, &clock_, &exec, &sink_);
    ASSERT_FALSE(b.ok()) << c.name;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(b.status().message().rfind("m: ", 0), 0u) << c.name << ": " << b.status().message();
  }
  FakeExecutor none(&clock_, 0);
  auto b = Batcher::Create(DefaultOptions(), &clock_, &none, &sink_);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(BatcherTest, CreateAcceptsEdgeOptions) {
  FakeExecutor exec(&clock_, 1);
  Batcher::Options o = DefaultOptions();
  o.max_batch_size = 4096;
  o.preferred_batch_sizes = {4096, 1};
  o.max_queue_size = 1;
  auto b = Batcher::Create(o, &clock_, &exec, &sink_);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b.value()->model(), "m");
  EXPECT_EQ(b.value()->queued(), 0u);
  EXPECT_EQ(b.value()->busy_replicas(), 0);
}

// ------------------------------------------------------------------ when a batch goes

// A batch is shrunk until its most urgent item can still finish: with
// E(1) = 10 and E(3-4) = 40 ms, the head due at 30 goes in a batch of 2 (E 20).
// Learned: 1 -> 10 ms, 2 -> 20, 4 -> 40 (so 3 -> 30, between them). Three
// items due at 1000 wait for a preferred batch of 4; at 0 the fourth, due
// at `head_deadline`, completes it and heads the queue.
class BatchFormingTest : public BatcherTest {
 protected:
  void EnqueueFourWithHeadDue(double head_deadline) {
    auto o = LearnFast();
    o.max_queue_delay = Millis(100);
    o.preferred_batch_sizes = {4};
    Make(o);
    Seed(1, {10});
    Seed(2, {20});
    Seed(4, {40});
    for (uint64_t t = 2; t <= 4; ++t) MustEnqueue(t, 1000);
    MustEnqueue(1, head_deadline);
  }
};

// A batch of 4 ends at 40, after the head's 30; one of 3 ends at 30 and
// answers as many (3): the smaller wins, and no one is late.
TEST_F(BatchFormingTest, TheBatchAnswersTheMostItemsInTime) {
  EnqueueFourWithHeadDue(30);
  EXPECT_EQ(executor_->runs, Strings({"r0@0:[q1,q2,q3]"}));
  EXPECT_EQ(batcher_->queued(), 1u);
}

// Due at 25, the head fits only batches of 1 or 2 (2 in time); a batch of
// 4 answers 3: the head is dropped as late at once (its try falls back)
// rather than halving the batch behind it.
TEST_F(BatchFormingTest, AHeadThatWouldHalveTheBatchIsDroppedAsLate) {
  EnqueueFourWithHeadDue(25);
  EXPECT_EQ(executor_->runs, Strings({"r0@0:[q2,q3,q4]"}));
  clock_.AdvanceTo(At(0));
  EXPECT_EQ(sink_.outcomes, Strings({"1@0:DEADLINE_EXCEEDED"}));
}

// The baselines (drop only what has expired) keep the old rule: the batch
// shrinks until its head fits, and nothing is dropped early.
TEST_F(BatchFormingTest, ABaselinesBatchShrinksUntilItsHeadFits) {
  auto o = LearnFast();
  o.max_queue_delay = Millis(100);
  o.preferred_batch_sizes = {4};
  o.drop_only_expired = true;
  Make(o);
  Seed(1, {10});
  Seed(2, {20});
  Seed(4, {40});
  MustEnqueue(1, 25);
  for (uint64_t t = 2; t <= 4; ++t) MustEnqueue(t, 1000);
  EXPECT_EQ(executor_->runs, Strings({"r0@0:[q1,q2]"}));
}

TEST_F(BatcherTest, FullBatchDispatchesAtOnce) {
  auto o = DefaultOptions();
  o.max_queue_delay = Millis(100);
  Make(o);
  MustEnqueue(1, 1000);
  MustEnqueue(2, 1000);
  MustEnqueue(3, 1000);
  EXPECT_TRUE(executor_->runs.empty());
  EXPECT_EQ(batcher_->queued(), 3u);
  clock_.AdvanceTo(At(1));
  MustEnqueue(4, 1000);
  EXPECT_EQ(executor_->runs, Strings({"r0@1:[q1,q2,q3,q4]"}));
  EXPECT_EQ(batcher_->queued(), 0u);
  EXPECT_EQ(batcher_->busy_replicas(), 1);
  clock_.AdvanceTo(At(1000));
  EXPECT_EQ(sink_.outcomes, Strings({"1@11:OK", "2@11:OK", "3@11:OK", "4@11:OK"}));
  EXPECT_EQ(sink_.details, Strings({"a:q1", "a:q2", "a:q3", "a:q4"}));
  EXPECT_EQ(executor_->runs.size(), 1u);
  EXPECT_EQ(batcher_->busy_replicas(), 0);
}

TEST_F(BatcherTest, ZeroDelayDispatchesAtOnceAndBatchesNeverExceedMaxBatchSize) {
  Make(DefaultOptions());
  for (uint64_t t = 1; t <= 10; ++t) MustEnqueue(t, 1000);
  EXPECT_EQ(batcher_->queued(), 9u);  // q1 went alone at once
  EXPECT_TRUE(clock_.RunUntilIdle());
  EXPECT_EQ(executor_->runs, Strings({"r0@0:[q1]", "r0@10:[q2,q3,q4,q5]",
                                      "r0@20:[q6,q7,q8,q9]", "r0@30:[q10]"}));
  EXPECT_EQ(sink_.outcomes.size(), 10u);
  EXPECT_EQ(sink_.outcomes.back(), "10@40:OK");
}

TEST_F(BatcherTest, PreferredBatchSizeGoesWithoutWaitingAndLargestFittingIsChosen) {
  auto o = DefaultOptions();
  o.max_batch_size = 8;
  o.preferred_batch_sizes = {4, 2};  // order does not matter
  o.max_queue_delay = Millis(50);
  Make(o);
  MustEnqueue(1, 1000);
  EXPECT_TRUE(executor_->runs.empty());
  clock_.AdvanceTo(At(1));
  MustEnqueue(2, 1000);  // 2 is preferred: goes at once
  EXPECT_EQ(executor_->runs, Strings({"r0@1:[q1,q2]"}));
  for (uint64_t t = 3; t <= 7; ++t) {
    clock_.AdvanceTo(At(static_cast<double>(t) - 1));
    MustEnqueue(t, 1000);  // q3..q7 at 2..6 ms, while the replica is busy
  }
  // At 11 five wait: the largest preferred size that fits (4) goes; q7 is
  // left to wait until it has been queued max_queue_delay (6 + 50).
  clock_.AdvanceTo(At(55.999));
  EXPECT_EQ(executor_->runs, Strings({"r0@1:[q1,q2]", "r0@11:[q3,q4,q5,q6]"}));
  clock_.AdvanceTo(At(56));
  EXPECT_EQ(executor_->runs,
            Strings({"r0@1:[q1,q2]", "r0@11:[q3,q4,q5,q6]", "r0@56:[q7]"}));
}

TEST_F(BatcherTest, MaxQueueDelayLaunchesAtOldestPlusDelayExactly) {
  auto o = DefaultOptions();
  o.max_queue_delay = Millis(5);
  Make(o);
  clock_.AdvanceTo(At(1));
  MustEnqueue(1, 1000);
  clock_.AdvanceTo(At(3));
  MustEnqueue(2, 1000);
  clock_.AdvanceTo(At(6) - Duration(1));
  EXPECT_TRUE(executor_->runs.empty());
  EXPECT_EQ(batcher_->queued(), 2u);
  clock_.AdvanceTo(At(6));  // 1 + 5: the oldest item's wait, not the newest's
  EXPECT_EQ(executor_->runs, Strings({"r0@6:[q1,q2]"}));
  clock_.AdvanceTo(At(100));
  EXPECT_EQ(sink_.outcomes, Strings({"1@16:OK", "2@16:OK"}));
}

// Regression guard: a delay timer armed for an earlier item must not launch a
// later item before that item's own max_queue_delay has passed.
TEST_F(BatcherTest, StaleDelayTimerDoesNotLaunchANewerItemEarly) {
  auto o = DefaultOptions();
  o.max_batch_size = 2;
  o.max_queue_delay = Millis(100);
  Make(o);
  MustEnqueue(1, 10000);  // arms a check at 100
  clock_.AdvanceTo(At(1));
  MustEnqueue(2, 10000);  // full batch: goes at 1
  clock_.AdvanceTo(At(50));
  MustEnqueue(3, 10000);  // due at 150
  clock_.AdvanceTo(At(149.999));
  EXPECT_EQ(executor_->runs, Strings({"r0@1:[q1,q2]"}));
  clock_.AdvanceTo(At(150));
  EXPECT_EQ(executor_->runs, Strings({"r0@1:[q1,q2]", "r0@150:[q3]"}));
}

TEST_F(BatcherTest, DeadlineLaunchesAtDeadlineMinusPBeforeMaxDelay) {
  auto o = LearnFast();
  o.max_queue_delay = Millis(100);
  Make(o);
  Seed(1, {10, 10, 30});  // E(1) = 10, P(1) = 30
  MustEnqueue(1, 100);
  clock_.AdvanceTo(At(70) - Duration(1));
  EXPECT_TRUE(executor_->runs.empty());
  clock_.AdvanceTo(At(70));  // 100 - P(1), not 100 - E(1) = 90 nor the delay's 100
  EXPECT_EQ(executor_->runs, Strings({"r0@70:[q1]"}));
  clock_.AdvanceTo(At(200));
  EXPECT_EQ(sink_.outcomes, Strings({"1@80:OK"}));
}

TEST_F(BatcherTest, DeadlineLaunchUsesEarliestDeadlineAndPOfTheWholeBatch) {
  auto o = LearnFast();
  o.max_queue_delay = Millis(100);
  Make(o);
  Seed(1, {10});
  Seed(2, {25});  // P(2) = 25
  MustEnqueue(1, 200);  // alone it would go at min(100, 200 - 10)
  clock_.AdvanceTo(At(1));
  MustEnqueue(2, 60);  // now the batch of 2 must go by 60 - P(2) = 35
  clock_.AdvanceTo(At(35) - Duration(1));
  EXPECT_TRUE(executor_->runs.empty());
  clock_.AdvanceTo(At(35));
  EXPECT_EQ(executor_->runs, Strings({"r0@35:[q2,q1]"}));  // earliest deadline first
}

// ------------------------------------------------------------------ late drops

// Baselines (drop_only_expired): an item goes only once its deadline passed.
TEST_F(BatcherTest, DropOnlyExpiredKeepsItemsUntilTheirDeadline) {
  auto o = LearnFast();
  o.drop_only_expired = true;
  Make(o);
  executor_->base = Millis(50);
  executor_->reported = Millis(10);
  Seed(1, {10});
  MustEnqueue(1, 1000);  // runs 0..50
  MustEnqueue(2, 45);    // could not finish after 35, but is kept until 45
  clock_.AdvanceTo(At(45));
  EXPECT_TRUE(sink_.outcomes.empty());
  clock_.AdvanceTo(At(45.001));
  EXPECT_EQ(sink_.outcomes, Strings({"2@45.001:DEADLINE_EXCEEDED"}));
}

TEST_F(BatcherTest, ItemsTurningLateWhileReplicasAreBusyAreDroppedWhenTheyTurn) {
  auto o = LearnFast();
  Make(o);
  executor_->base = Millis(50);
  executor_->reported = Millis(10);  // keeps E(1) at 10 as batches finish
  Seed(1, {10});
  MustEnqueue(1, 1000);  // runs 0..50
  MustEnqueue(2, 45);     // late once now + 10 > 45: at 35 + 1 tick
  MustEnqueue(3, 60);     // 50 + 10 = 60: still makes it
  MustEnqueue(4, 59.999); // late at 49.999 + 1 tick = 50
  clock_.AdvanceTo(At(35));
  EXPECT_TRUE(sink_.outcomes.empty());
  clock_.AdvanceTo(At(35.001));  // dropped while the only replica is busy
  EXPECT_EQ(sink_.outcomes, Strings({"2@35.001:DEADLINE_EXCEEDED"}));
  EXPECT_EQ(sink_.details[0], "m: dropped, too late to finish");
  clock_.AdvanceTo(At(50));
  EXPECT_EQ(sink_.outcomes, Strings({"2@35.001:DEADLINE_EXCEEDED", "1@50:OK",
                                     "4@50:DEADLINE_EXCEEDED"}));
  EXPECT_EQ(executor_->runs, Strings({"r0@0:[q1]", "r0@50:[q3]"}));
  clock_.AdvanceTo(At(200));
  EXPECT_EQ(sink_.outcomes.back(), "3@100:OK");
}

TEST_F(BatcherTest, LateDropFoundInsideEnqueueIsReportedOnATimerNotSynchronously) {
  auto o = LearnFast();
  o.max_queue_delay = Millis(100);
  Make(o);
  Seed(1, {10});
  const ItemId first = MustEnqueue(1, 50);  // would go at 50 - 10 = 40
  clock_.AdvanceTo(At(20));
  Seed(1, {40, 40});  // E(1) is now 40: 20 + 40 > 50
  MustEnqueue(2, 1000);  // finds item 1 late (the sink checks it is not called here)
  EXPECT_TRUE(sink_.outcomes.empty());
  EXPECT_EQ(batcher_->queued(), 1u);
  EXPECT_FALSE(Cancel(first));  // no longer queued
  clock_.AdvanceTo(At(20));     // the report is due at once
  EXPECT_EQ(sink_.outcomes, Strings({"1@20:DEADLINE_EXCEEDED"}));
  clock_.AdvanceTo(At(119.999));
  EXPECT_TRUE(executor_->runs.empty());
  clock_.AdvanceTo(At(120));  // item 2 waited its max_queue_delay
  EXPECT_EQ(executor_->runs, Strings({"r0@120:[q2]"}));
}

// ------------------------------------------------------------------ Enqueue rejections

TEST_F(BatcherTest, EnqueueRejectsAnItemThatCannotFinishInTime) {
  Make(LearnFast());
  Seed(1, {10});
  clock_.AdvanceTo(At(5));
  StatusOr<ItemId> late = Enqueue(1, 14.999);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(late.status().message(), "m: cannot finish before the deadline");
  EXPECT_EQ(batcher_->queued(), 0u);
  EXPECT_TRUE(executor_->runs.empty());
  EXPECT_TRUE(Enqueue(2, 15).ok());  // 5 + 10 = 15 just makes it
  clock_.AdvanceTo(At(100));
  EXPECT_EQ(sink_.outcomes, Strings({"2@15:OK"}));  // the rejected item is never reported
}

TEST_F(BatcherTest, EnqueueWithoutServiceDataRejectsOnlyPastDeadlines) {
  Make(DefaultOptions());
  clock_.AdvanceTo(At(5));
  StatusOr<ItemId> past = Enqueue(1, 4.999);
  ASSERT_FALSE(past.ok());
  EXPECT_EQ(past.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(Enqueue(2, 5).ok());
}

TEST_F(BatcherTest, EnqueueRejectsWhenTheQueueIsFull) {
  auto o = DefaultOptions();
  o.max_queue_size = 2;
  o.max_queue_delay = Millis(100);
  Make(o);
  MustEnqueue(1, 1000);
  MustEnqueue(2, 1000);
  StatusOr<ItemId> full = Enqueue(3, 1000);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(full.status().message(), "m: queue is full (2 items)");
  EXPECT_EQ(batcher_->queued(), 2u);
  clock_.AdvanceTo(At(100));  // the two go; the queue has room again
  EXPECT_EQ(executor_->runs, Strings({"r0@100:[q1,q2]"}));
  EXPECT_TRUE(Enqueue(4, 1000).ok());
  clock_.AdvanceTo(At(1000));
  EXPECT_EQ(sink_.outcomes, Strings({"1@110:OK", "2@110:OK", "4@210:OK"}));
}

// ------------------------------------------------------------------ order

TEST_F(BatcherTest, HigherPriorityFirstThenEarliestDeadlineThenArrival) {
  auto o = DefaultOptions();
  o.max_batch_size = 2;
  Make(o);
  MustEnqueue(1, 1000, 0);  // takes the replica at once
  MustEnqueue(2, 100, 0);
  MustEnqueue(3, 300, 1);
  MustEnqueue(4, 50, 0);
  MustEnqueue(5, 200, 1);
  MustEnqueue(6, 1000, 2);
  MustEnqueue(7, 100, 0);  // same priority and deadline as 2: after it
  EXPECT_TRUE(clock_.RunUntilIdle());
  EXPECT_EQ(executor_->runs,
            Strings({"r0@0:[q1]", "r0@10:[q6,q5]", "r0@20:[q3,q4]", "r0@30:[q2,q7]"}));
}

// ------------------------------------------------------------------ Cancel

TEST_F(BatcherTest, CancelRemovesAQueuedItemButNotARunningOne) {
  auto o = DefaultOptions();
  o.max_queue_delay = Millis(100);
  Make(o);
  const ItemId a = MustEnqueue(1, 1000);
  const ItemId b = MustEnqueue(2, 1000);
  MustEnqueue(3, 1000);
  EXPECT_TRUE(Cancel(b));
  EXPECT_EQ(batcher_->queued(), 2u);
  EXPECT_FALSE(Cancel(b));  // twice
  EXPECT_FALSE(Cancel(ItemId{0, At(1000), 999}));  // never enqueued
  clock_.AdvanceTo(At(100));
  EXPECT_EQ(executor_->runs, Strings({"r0@100:[q1,q3]"}));
  EXPECT_FALSE(Cancel(a));  // running: the sink still hears of it
  clock_.AdvanceTo(At(1000));
  EXPECT_EQ(sink_.outcomes, Strings({"1@110:OK", "3@110:OK"}));
  EXPECT_FALSE(Cancel(a));  // done
}

// Cancelling a running item cannot split its batch, but once every item's
// try is over the executor is told (Batch::abandoned): a remote call stops.
TEST_F(BatcherTest, ARunningBatchIsAbandonedOnceEveryItemsTryIsOver) {
  auto o = DefaultOptions();
  o.max_queue_delay = Millis(100);
  Make(o);
  const ItemId a = MustEnqueue(1, 1000);
  const ItemId b = MustEnqueue(2, 1000);
  clock_.AdvanceTo(At(100));
  ASSERT_EQ(executor_->runs, Strings({"r0@100:[q1,q2]"}));
  const Batch& batch = *executor_->last;
  batch.items[0]->over.Set();  // as the broker does when a try ends, before it cancels
  EXPECT_FALSE(Cancel(a));
  EXPECT_FALSE(batch.abandoned.cancelled()) << "item 2's try still wants the answer";
  batch.items[1]->over.Set();
  EXPECT_FALSE(Cancel(b));
  EXPECT_TRUE(batch.abandoned.cancelled());
  clock_.AdvanceTo(At(1000));  // the executor still answers; the next batch starts fresh
  MustEnqueue(3, 2000);
  clock_.AdvanceTo(At(1100));
  ASSERT_EQ(executor_->runs.size(), 2u);
  EXPECT_FALSE(executor_->last->abandoned.cancelled());
}

// ------------------------------------------------------------------ replicas

TEST_F(BatcherTest, TwoReplicasRunBatchesConcurrently) {
  auto o = DefaultOptions();
  o.max_batch_size = 2;
  Make(o, /*replicas=*/2);
  MustEnqueue(1, 1000);
  MustEnqueue(2, 1000);
  EXPECT_EQ(batcher_->busy_replicas(), 2);
  MustEnqueue(3, 1000);
  MustEnqueue(4, 1000);
  MustEnqueue(5, 1000);
  EXPECT_EQ(batcher_->queued(), 3u);
  EXPECT_TRUE(clock_.RunUntilIdle());
  EXPECT_EQ(executor_->runs,
            Strings({"r0@0:[q1]", "r1@0:[q2]", "r0@10:[q3,q4]", "r1@10:[q5]"}));
  EXPECT_EQ(sink_.outcomes,
            Strings({"1@10:OK", "2@10:OK", "3@20:OK", "4@20:OK", "5@20:OK"}));
  EXPECT_EQ(batcher_->busy_replicas(), 0);
}

// ------------------------------------------------------------------ results

TEST_F(BatcherTest, SinkHearsBackendErrorsPerItem) {
  auto o = DefaultOptions();
  o.max_batch_size = 2;
  o.max_queue_delay = Millis(1);
  Make(o);
  executor_->fail = true;
  MustEnqueue(1, 1000);
  MustEnqueue(2, 1000);
  clock_.AdvanceTo(At(100));
  EXPECT_EQ(sink_.outcomes, Strings({"1@10:UNAVAILABLE", "2@10:UNAVAILABLE"}));
  EXPECT_EQ(sink_.details, Strings({"boom", "boom"}));
}

TEST_F(BatcherTest, ExecutorReturningTooFewAnswersGivesInternalForTheRest) {
  auto o = DefaultOptions();
  o.max_batch_size = 2;
  Make(o);
  executor_->drop_answers = 1;
  clock_.AdvanceTo(At(1));
  MustEnqueue(1, 1000);  // goes alone (no delay): its one answer is dropped
  MustEnqueue(2, 1000);
  MustEnqueue(3, 1000);
  clock_.AdvanceTo(At(100));
  EXPECT_EQ(sink_.outcomes, Strings({"1@11:INTERNAL", "2@21:OK", "3@21:INTERNAL"}));
  EXPECT_EQ(sink_.details[0], "m: executor returned too few answers");
  EXPECT_EQ(sink_.details[1], "a:q2");
}

// Regression guard: a sink that enqueues from its callback must not get the
// finishing replica handed a second batch before it is released.
TEST_F(BatcherTest, SinkMayEnqueueFromItsCallback) {
  Make(DefaultOptions());
  sink_.on_done = [this](uint64_t token) {
    if (token == 1) {
      EXPECT_TRUE(Enqueue(2, 1000).ok());
    }
  };
  MustEnqueue(1, 1000);
  EXPECT_TRUE(clock_.RunUntilIdle());
  EXPECT_EQ(executor_->runs, Strings({"r0@0:[q1]", "r0@10:[q2]"}));
  EXPECT_EQ(sink_.outcomes, Strings({"1@10:OK", "2@20:OK"}));
}

TEST_F(BatcherTest, DestroyingTheBatcherCancelsItsTimer) {
  auto o = DefaultOptions();
  o.max_queue_delay = Millis(100);
  Make(o);
  MustEnqueue(1, 1000);
  EXPECT_EQ(clock_.pending_timers(), 1u);
  batcher_.reset();
  EXPECT_EQ(clock_.pending_timers(), 0u);
  clock_.AdvanceTo(At(1000));
  EXPECT_TRUE(executor_->runs.empty());
}

// ------------------------------------------------------------------ learning

TEST_F(BatcherTest, FinishedBatchesFeedServiceTimes) {
  auto o = DefaultOptions();
  o.service_time.min_samples = 3;
  o.max_queue_delay = Millis(1);  // a lone item waits 1 ms; four go at once
  Make(o);
  const Duration prior = Millis(7);
  executor_->reported = Millis(12);  // what the executor measured
  for (uint64_t t = 1; t <= 3; ++t) {
    EXPECT_EQ(batcher_->service_times().Estimate(1, prior).expected, prior) << t;
    MustEnqueue(t, 10000);
    EXPECT_TRUE(clock_.RunUntilIdle());
  }
  EXPECT_EQ(executor_->runs, Strings({"r0@1:[q1]", "r0@12:[q2]", "r0@23:[q3]"}));
  EXPECT_EQ(batcher_->service_times().observations(), 3);
  EXPECT_EQ(batcher_->service_times().Estimate(1, prior).expected, Millis(12));
  EXPECT_EQ(batcher_->service_times().Estimate(1, prior).high, Millis(12));

  // Batches of 4 are learned in their own class (3-4); until it has three
  // samples, the class of 1 stands in (no larger batch is learned).
  executor_->reported = Millis(20);
  for (uint64_t round = 0; round < 3; ++round) {
    EXPECT_EQ(batcher_->service_times().Estimate(4, prior).expected, Millis(12)) << round;
    for (uint64_t i = 0; i < 4; ++i) MustEnqueue(100 + round * 4 + i, 10000);
    EXPECT_TRUE(clock_.RunUntilIdle());
  }
  ASSERT_EQ(executor_->runs.size(), 6u);
  EXPECT_EQ(executor_->runs[3], "r0@33:[q100,q101,q102,q103]");
  EXPECT_EQ(batcher_->service_times().observations(), 6);
  EXPECT_EQ(batcher_->service_times().Estimate(4, prior).expected, Millis(20));
  // 3 lies between the sizes learned, 1 (12 ms) and 4 (20 ms): 12 + 8 x 2/3.
  EXPECT_EQ(batcher_->service_times().Estimate(3, prior).expected, Duration(17333));
  EXPECT_EQ(batcher_->service_times().Estimate(1, prior).expected, Millis(12));
}

// Skipped items (their try was over) cost nothing: the time is learned for
// the items that ran, and a batch that ran nothing teaches nothing.
TEST_F(BatcherTest, SkippedItemsAreNotLearnedAsServiceTimeNorCountedAsExecuted) {
  ModelStats stats("m", "1");
  auto o = LearnFast();
  o.stats = &stats;
  o.max_queue_delay = Millis(1);  // four go at once, as one batch
  Make(o);
  executor_->reported = Millis(12);
  executor_->skip_answers = 4;
  for (uint64_t i = 1; i <= 4; ++i) MustEnqueue(i, 10000);
  EXPECT_TRUE(clock_.RunUntilIdle());
  EXPECT_EQ(batcher_->service_times().observations(), 0);
  EXPECT_EQ(stats.skipped.load(), 4u);
  EXPECT_EQ(stats.batches.load(), 0u);
  EXPECT_EQ(stats.items.load(), 0u);
  EXPECT_EQ(stats.errors.load(), 0u);
  EXPECT_EQ(sink_.outcomes.size(), 4u);
  for (const std::string& d : sink_.details) EXPECT_TRUE(IsSkippedTryOver(Cancelled(d))) << d;

  executor_->skip_answers = 3;  // one of four ran: 12 ms is the time of a batch of one
  for (uint64_t i = 5; i <= 8; ++i) MustEnqueue(i, 10000);
  EXPECT_TRUE(clock_.RunUntilIdle());
  EXPECT_EQ(executor_->runs, Strings({"r0@0:[q1,q2,q3,q4]", "r0@10:[q5,q6,q7,q8]"}));
  EXPECT_EQ(batcher_->service_times().observations(), 1);
  EXPECT_EQ(batcher_->service_times().Estimate(1, Millis(1)).expected, Millis(12));
  EXPECT_EQ(stats.skipped.load(), 7u);
  EXPECT_EQ(stats.batches.load(), 1u);
  EXPECT_EQ(stats.items.load(), 1u);
  EXPECT_EQ(stats.errors.load(), 0u);
}

// ------------------------------------------------------------------ Predict

TEST_F(BatcherTest, PredictWhenIdleIsThePriorPlusMaxQueueDelay) {
  Make(DefaultOptions());
  LatencyEstimate e = batcher_->Predict(0, Millis(7));
  EXPECT_EQ(e.expected, Millis(7));
  EXPECT_EQ(e.high, Millis(7));

  auto o = DefaultOptions();
  o.max_queue_delay = Millis(5);
  Make(o);
  e = batcher_->Predict(0, Millis(7));  // it may wait for the batch to fill
  EXPECT_EQ(e.expected, Millis(12));
  EXPECT_EQ(e.high, Millis(12));

  o.max_batch_size = 1;  // a batch of one is always full: no waiting
  Make(o);
  e = batcher_->Predict(0, Millis(7));
  EXPECT_EQ(e.expected, Millis(7));
  EXPECT_EQ(e.high, Millis(7));
}

// A TBMS worker reads what a new request would take there as it answers
// (its v2 edge's expected_now, inside the sink's callback): the replica that
// just finished is about to be free, not a straggler that needs its whole
// time again. Found by tbms sim --workers: the doubled figure made brokers
// skip the top model on an idle fleet.
TEST_F(BatcherTest, PredictInsideTheSinkCountsTheFinishingReplicaAsFree) {
  Make(LearnFast());  // one replica; the fake runs a batch of one in 10 ms
  Seed(1, {10});
  std::optional<LatencyEstimate> seen;
  sink_.on_done = [this, &seen](uint64_t) { seen = batcher_->Predict(0, Millis(99)); };
  MustEnqueue(1, 1000);
  EXPECT_TRUE(clock_.RunUntilIdle());
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->expected, Millis(10));  // not 10 + 10
  EXPECT_EQ(seen->high, Millis(10));

  // Two replicas, both busy: the one finishing is the free one, not the other's end.
  Make(LearnFast(), 2);
  Seed(1, {10});
  seen.reset();
  sink_.on_done = [this, &seen](uint64_t token) {
    if (token == 1) seen = batcher_->Predict(0, Millis(99));
  };
  MustEnqueue(1, 1000);
  clock_.Advance(Millis(5));
  MustEnqueue(2, 1000);  // on replica 1 until 15
  EXPECT_TRUE(clock_.RunUntilIdle());
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->expected, Millis(10));  // not 5 (replica 1's rest) + 10
}

TEST_F(BatcherTest, PredictUsesLearnedEAndP) {
  Make(LearnFast());
  Seed(1, {10, 10, 30});
  const LatencyEstimate e = batcher_->Predict(0, Millis(99));
  EXPECT_EQ(e.expected, Millis(10));
  EXPECT_EQ(e.high, Millis(30));
}

TEST_F(BatcherTest, PredictTakesTheExecutorsFloor) {
  Make(LearnFast());
  Seed(1, {10, 10, 30});
  executor_->floor = Millis(20);  // a worker shared with other brokers says 20 ms now
  LatencyEstimate e = batcher_->Predict(0, Millis(99));
  EXPECT_EQ(e.expected, Millis(20));
  EXPECT_EQ(e.high, Millis(30));  // already above the floor
  executor_->floor = Millis(50);
  e = batcher_->Predict(0, Millis(99));
  EXPECT_EQ(e.expected, Millis(50));
  EXPECT_EQ(e.high, Millis(50));
}

TEST_F(BatcherTest, PredictWaitsForTheBusyReplica) {
  Make(LearnFast());
  Seed(1, {10, 10, 30});  // E(1) = 10, P(1) = 30
  MustEnqueue(1, 1000);   // runs 0..10
  clock_.AdvanceTo(At(4));
  const LatencyEstimate e = batcher_->Predict(0, Duration(0));
  EXPECT_EQ(e.expected, Millis(6 + 10));
  EXPECT_EQ(e.high, Millis(6 + 30));
}

TEST_F(BatcherTest, PredictAssumesAnOverdueBatchNeedsItsExpectedTimeAgain) {
  Make(LearnFast());
  executor_->base = Millis(50);
  Seed(1, {10});
  MustEnqueue(1, 1000);  // expected to end at 10, actually runs until 50
  clock_.AdvanceTo(At(15));
  const LatencyEstimate e = batcher_->Predict(0, Duration(0));
  EXPECT_EQ(e.expected, Millis(10 + 10));
}

TEST_F(BatcherTest, PredictGrowsWithTheQueueAheadAtTheSameOrHigherPriority) {
  auto o = LearnFast();
  o.max_batch_size = 2;
  Make(o);
  Seed(1, {10});  // E(1) = 10
  Seed(2, {16});  // E(2) = 16
  MustEnqueue(1, 1000);  // runs 0..10
  std::vector<double> predicted;
  auto predict = [&](int priority) {
    return ToMillis(batcher_->Predict(priority, Duration(0)).expected);
  };
  predicted.push_back(predict(0));
  for (uint64_t t = 2; t <= 6; ++t) {
    MustEnqueue(t, 1000);
    predicted.push_back(predict(0));
  }
  // ahead 0: 10 (busy) + E(1); ahead 1: 10 + E(2) joining it; ahead 2: 10 +
  // one full round E(2) + E(1); ... ahead 5: 10 + 2 * E(2) + E(2).
  EXPECT_EQ(predicted, (std::vector<double>{20, 26, 36, 42, 52, 58}));
  EXPECT_EQ(predict(1), 20);   // nothing queued at priority 1 or above
  EXPECT_EQ(predict(-1), 58);  // lower priority waits behind all five
}

TEST_F(BatcherTest, PredictWithAFreeReplicaAndShortQueueHasNoWait) {
  auto o = LearnFast();
  o.max_batch_size = 2;
  Make(o, /*replicas=*/2);
  Seed(1, {10});
  MustEnqueue(1, 1000);  // replica 0 busy, replica 1 free
  EXPECT_EQ(batcher_->Predict(0, Duration(0)).expected, Millis(10));
}


// Replicas come and go while serving: the queue and the learned service
// times stay; a drained replica finishes its batch before it is removed.
TEST_F(BatcherTest, ReplicasAreAddedAndDrainedWhileServingKeepingServiceTimes) {
  Make(LearnFast(), 1);
  Seed(1, {10});
  MustEnqueue(1, 1000);
  MustEnqueue(2, 1000);  // waits: one replica, busy with 1
  EXPECT_EQ(executor_->runs, (Strings{"r0@0:[q1]"}));
  ASSERT_TRUE(batcher_->SetReplicas(2).ok());  // the new replica takes 2 at once
  EXPECT_EQ(executor_->runs, (Strings{"r0@0:[q1]", "r1@0:[q2]"}));
  EXPECT_EQ(batcher_->serving_replicas(), 2);

  ASSERT_TRUE(batcher_->SetReplicas(1).ok());  // replica 1 drains: busy until 10
  EXPECT_EQ(batcher_->replicas_in(ReplicaState::kDraining), 1);
  EXPECT_TRUE(executor_->removed.empty());
  clock_.AdvanceTo(At(10));
  EXPECT_EQ(executor_->removed, std::vector<int>{1});
  EXPECT_EQ(batcher_->replicas_in(ReplicaState::kRemoved), 1);
  EXPECT_EQ(sink_.outcomes, (Strings{"1@10:OK", "2@10:OK"}));
  EXPECT_EQ(batcher_->Predict(0, Millis(99)).expected, Millis(10));  // learned, not the prior

  MustEnqueue(3, 1000);  // only replica 0 serves now
  EXPECT_EQ(executor_->runs.back(), "r0@10:[q3]");
  EXPECT_EQ(batcher_->SetReplicas(-1).code(), StatusCode::kInvalidArgument);
}

TEST_F(BatcherTest, AnUnavailableReplicaGetsNoBatchesUntilItIsBack) {
  Make(LearnFast(), 2);
  executor_->MarkAvailable(0, false);
  MustEnqueue(1, 1000);
  EXPECT_EQ(executor_->runs, (Strings{"r1@0:[q1]"}));
  MustEnqueue(2, 1000);  // replica 1 busy, replica 0 out: it waits
  EXPECT_EQ(executor_->runs.size(), 1u);
  executor_->MarkAvailable(0, true);
  EXPECT_EQ(executor_->runs, (Strings{"r1@0:[q1]", "r0@0:[q2]"}));
}

// With no replica serving nothing waits for one: what is queued and what
// comes fails UNAVAILABLE at once, so tries fall back.
TEST_F(BatcherTest, WithNoReplicaServingNothingWaits) {
  Make(LearnFast(), 1);
  MustEnqueue(1, 1000);  // r0 runs it until 10
  MustEnqueue(2, 1000);  // queued behind it
  executor_->MarkAvailable(0, false);  // r0 finishes its batch; none serves
  EXPECT_EQ(batcher_->serving_replicas(), 0);
  EXPECT_EQ(batcher_->Predict(0, Millis(1)).expected, Batcher::kNever);
  EXPECT_EQ(Enqueue(3, 1000).status().code(), StatusCode::kUnavailable);
  clock_.AdvanceTo(At(10));
  EXPECT_EQ(sink_.outcomes, (Strings{"2@0:UNAVAILABLE", "1@10:OK"}));
}

// A group's time share caps its device time: 25% for 10 ms batches is one
// batch per 40 ms, once the burst (25 ms of credit) is spent; Predict counts
// the wait for credit and each round at T_b / share.
TEST_F(BatcherTest, AGroupsShareCapsItsDeviceTime) {
  Batcher::Options o = LearnFast();
  o.max_batch_size = 1;
  o.groups = {{.count = 1, .share = 0.25}};
  Make(o, 1);
  Seed(1, {10});
  for (uint64_t t = 1; t <= 6; ++t) MustEnqueue(t, 10000);
  clock_.AdvanceTo(At(45));  // q5 waits for credit until 60
  // A new item: 15 until credit, then q5 and q6 at 40 each, then its own 10 (it would start at 140).
  EXPECT_EQ(batcher_->Predict(0, Duration(0)).expected, Millis(105));
  clock_.AdvanceTo(At(200));
  EXPECT_EQ(executor_->runs, (Strings{"r0@0:[q1]", "r0@10:[q2]", "r0@20:[q3]", "r0@30:[q4]", "r0@60:[q5]",
                                       "r0@100:[q6]"}));
}

// A drained device takes its group's replicas out (a busy one finishes its
// batch), whatever the executor says of them, until it is back; replicas
// added later join the last group, drained or not; the groups' placement
// stats count each group's serving replicas.
TEST_F(BatcherTest, ADrainedDeviceTakesItsGroupsReplicasOut) {
  PlacementStats gpu("gpu0", "m", "1"), cpu("cpu", "m", "1");
  Batcher::Options o = LearnFast();
  o.groups = {{.count = 1, .stats = &gpu}, {.count = 1, .stats = &cpu}};
  Make(o, 2);
  EXPECT_EQ(gpu.replicas.load(), 1);
  batcher_->SetGroupUp(0, false);
  EXPECT_EQ(gpu.replicas.load(), 0);
  MustEnqueue(1, 1000);
  EXPECT_EQ(executor_->runs, (Strings{"r1@0:[q1]"}));
  executor_->MarkAvailable(0, true);  // the executor's word does not bring it back while its device is down
  MustEnqueue(2, 1000);               // waits for r1
  EXPECT_EQ(executor_->runs.size(), 1u);
  batcher_->SetGroupUp(0, true);
  EXPECT_EQ(executor_->runs, (Strings{"r1@0:[q1]", "r0@0:[q2]"}));

  batcher_->SetGroupUp(1, false);
  ASSERT_TRUE(batcher_->SetReplicas(3).ok());  // r2 joins the cpu group: out while it is drained
  EXPECT_EQ(batcher_->serving_replicas(), 1);
  EXPECT_EQ(batcher_->replicas_in(ReplicaState::kUnavailable), 2);
  batcher_->SetGroupUp(1, true);
  EXPECT_EQ(batcher_->serving_replicas(), 3);
  EXPECT_EQ(cpu.replicas.load(), 2);
  clock_.AdvanceTo(At(10));
  EXPECT_EQ(sink_.outcomes, (Strings{"1@10:OK", "2@10:OK"}));
}

TEST_F(BatcherTest, ABatchCarriesTheEarliestDeadlineOfItsItems) {
  Batcher::Options o = LearnFast();
  o.max_queue_delay = Millis(5);
  Make(o, 1);
  MustEnqueue(1, 300);
  MustEnqueue(2, 200);
  MustEnqueue(3, 250, /*priority=*/1);
  clock_.AdvanceTo(At(5));
  ASSERT_EQ(executor_->deadlines.size(), 1u);
  EXPECT_EQ(executor_->deadlines[0], At(200));
}

}  // namespace
}  // namespace tbms
