// ThreadPoolExecutor: batches run on replica threads, completions come back
// only through the core's runner, replicas run concurrently, and a wrong-sized backend
// answer becomes an INTERNAL error per item.
#include "tbms/backends/thread_pool_executor.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace tbms {
namespace {

// The core: a CoreRunner the executor posts completions to. RunTasks(n)
// returns once n tasks have run on it, and everything they did is visible
// to the test (bounded, so a bug fails instead of hanging).
class CoreQueue {
 public:
  CoreRunner* Poster() { return &runner_; }
  bool RunTasks(int n) {
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    target_ += static_cast<uint64_t>(n);
    while (std::chrono::steady_clock::now() < give_up) {
      uint64_t ran = 0;
      runner_.RunAndWait([&] { ran = runner_.tasks_run(); });  // counts the groups before this one
      if (ran >= target_ + probes_++) return true;
      std::this_thread::yield();
    }
    return false;
  }

 private:
  CoreRunner runner_;
  uint64_t target_ = 0;
  uint64_t probes_ = 0;  // RunAndWait's own tasks count too
};

class Echo : public Backend {
 public:
  std::vector<StatusOr<Answer>> Process(const Batch& batch) override {
    std::vector<StatusOr<Answer>> out;
    for (const auto& in : batch.items) out.emplace_back("\"" + in->question + "\"");
    return out;
  }
};

// Blocks each call until `n` calls are inside at once: proves concurrency.
class Rendezvous : public Backend {
 public:
  explicit Rendezvous(int n) : n_(n) {}
  std::vector<StatusOr<Answer>> Process(const Batch& batch) override {
    std::unique_lock lock(mu_);
    ++inside_;
    cv_.notify_all();
    met_ = cv_.wait_for(lock, std::chrono::seconds(10), [&] { return inside_ >= n_; });
    return std::vector<StatusOr<Answer>>(batch.items.size(), StatusOr<Answer>(Answer("1")));
  }
  bool met() {
    std::lock_guard lock(mu_);
    return met_;
  }

 private:
  const int n_;
  std::mutex mu_;
  std::condition_variable cv_;
  int inside_ = 0;
  bool met_ = false;
};

class Counting : public Backend {
 public:
  std::vector<StatusOr<Answer>> Process(const Batch& batch) override {
    ++calls;
    return std::vector<StatusOr<Answer>>(batch.items.size(), StatusOr<Answer>(Answer("1")));
  }
  std::atomic<int> calls{0};
};

class Short : public Backend {
 public:
  std::vector<StatusOr<Answer>> Process(const Batch&) override { return {}; }
};

Batch MakeBatch(std::vector<std::string> questions) {
  Batch b;
  for (auto& q : questions) b.items.push_back(std::make_shared<Inputs>(q));
  return b;
}

TEST(ThreadPoolExecutorTest, RunsABatchAndPostsTheResult) {
  CoreQueue core;
  auto ex = std::move(ThreadPoolExecutor::Create({"echo", 1}, std::make_shared<Echo>(), core.Poster())).value();
  Batch batch = MakeBatch({"a", "b"});
  std::optional<BatchResult> got;
  // Never from inside Run: on the replica's thread (which runs the core if
  // it is free) or on whichever thread runs the core next.
  const std::thread::id caller = std::this_thread::get_id();
  std::atomic<bool> in_run{true};
  bool answered_inside_run = false;
  ex->Run(0, batch, [&](BatchResult r) {
    got = std::move(r);
    answered_inside_run = in_run.load() && std::this_thread::get_id() == caller;
  });
  in_run.store(false);
  ASSERT_TRUE(core.RunTasks(1));
  ASSERT_TRUE(got);
  EXPECT_FALSE(answered_inside_run);
  ASSERT_EQ(got->answers.size(), 2u);
  EXPECT_EQ(got->answers[0].value(), "\"a\"");
  EXPECT_EQ(got->answers[1].value(), "\"b\"");
  EXPECT_GE(got->service_time, Duration(0));
}

// Holds each call until released (bounded): a batch still running.
class Held : public Backend {
 public:
  std::vector<StatusOr<Answer>> Process(const Batch& batch) override {
    std::unique_lock lock(mu_);
    inside_ = true;
    cv_.notify_all();
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return released_; });
    return std::vector<StatusOr<Answer>>(batch.items.size(), Answer("1"));
  }
  bool WaitInside() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return inside_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool inside_ = false, released_ = false;
};

// The engine's end closes its executors on the core and destroys them off
// it, while a batch whose try ended may still run: that batch's completion,
// queued behind the close, must not reach its batcher (gone by then).
TEST(ThreadPoolExecutorTest, ACompletionQueuedBehindItsExecutorsCloseIsDropped) {
  CoreRunner core;
  auto backend = std::make_shared<Held>();
  auto ex = std::move(ThreadPoolExecutor::Create({"held", 1}, backend, &core)).value();
  Batch batch = MakeBatch({"a"});
  std::atomic<bool> done_ran{false};
  ex->Run(0, batch, [&](BatchResult) { done_ran = true; });
  ASSERT_TRUE(backend->WaitInside());
  core.RunAndWait([&] {
    ex->Close();
    backend->Release();  // the replica's completion queues behind this task
  });
  ex.reset();  // joins the replica, off the core
  core.RunAndWait([] {});  // the queued completion has had its turn
  EXPECT_FALSE(done_ran.load());
}

TEST(ThreadPoolExecutorTest, ReplicasRunConcurrently) {
  CoreQueue core;
  auto backend = std::make_shared<Rendezvous>(2);
  auto ex = std::move(ThreadPoolExecutor::Create({"r", 2}, backend, core.Poster())).value();
  Batch b0 = MakeBatch({"x"}), b1 = MakeBatch({"y"});
  int done = 0;
  ex->Run(0, b0, [&](BatchResult) { ++done; });
  ex->Run(1, b1, [&](BatchResult) { ++done; });
  ASSERT_TRUE(core.RunTasks(2));
  EXPECT_EQ(done, 2);
  EXPECT_TRUE(backend->met());
}

// Answers, and says once that its GPU failed (as the embedding does when a
// product fails: the answers come from the CPU).
class FailingGpu : public Echo {
 public:
  Status TakeDeviceFailure() override {
    return told_.exchange(true) ? OkStatus() : Unavailable("gpu:0: cudaErrorLaunchFailure");
  }

 private:
  std::atomic<bool> told_{false};
};

// The executor passes a device failure on, naming its device, before the
// batch is done (so no further batch is given to the failed device).
TEST(ThreadPoolExecutorTest, ADeviceFailureIsPassedOnBeforeTheBatchIsDone) {
  CoreQueue core;
  std::vector<std::string> heard;
  bool done_when_heard = true;
  int done = 0;
  ThreadPoolExecutor::Options options{"embedding", 1};
  options.device = "gpu0";
  options.device_failed = [&](const std::string& device, const Status& why) {
    heard.push_back(device + " " + why.message());
    done_when_heard = done > 0;
  };
  auto ex = std::move(ThreadPoolExecutor::Create(options, std::make_shared<FailingGpu>(), core.Poster())).value();
  Batch first = MakeBatch({"a"}), second = MakeBatch({"b"});
  std::optional<BatchResult> got;
  ex->Run(0, first, [&](BatchResult r) {
    got = std::move(r);
    ++done;
  });
  ASSERT_TRUE(core.RunTasks(1));
  ASSERT_TRUE(got && got->answers[0].ok());  // the batch itself was answered
  ex->Run(0, second, [&](BatchResult) { ++done; });
  ASSERT_TRUE(core.RunTasks(1));
  EXPECT_EQ(heard, std::vector<std::string>{"gpu0 gpu:0: cudaErrorLaunchFailure"});  // once
  EXPECT_FALSE(done_when_heard);
}

TEST(ThreadPoolExecutorTest, WrongAnswerCountBecomesInternalError) {
  CoreQueue core;
  auto ex = std::move(ThreadPoolExecutor::Create({"short", 1}, std::make_shared<Short>(), core.Poster())).value();
  Batch batch = MakeBatch({"a", "b", "c"});
  std::optional<BatchResult> got;
  ex->Run(0, batch, [&](BatchResult r) { got = std::move(r); });
  ASSERT_TRUE(core.RunTasks(1));
  ASSERT_EQ(got->answers.size(), 3u);
  EXPECT_EQ(got->answers[2].status().code(), StatusCode::kInternal);
}

// Work whose every try is over is not started; one live item is enough to run.
TEST(ThreadPoolExecutorTest, SkipsABatchWhoseTriesAreAllOver) {
  CoreQueue core;
  auto backend = std::make_shared<Counting>();
  auto ex = std::move(ThreadPoolExecutor::Create({"count", 1}, backend, core.Poster())).value();
  Batch over = MakeBatch({"a", "b"});
  for (const auto& in : over.items) in->over.Set();
  std::optional<BatchResult> got;
  ex->Run(0, over, [&](BatchResult r) { got = std::move(r); });
  ASSERT_TRUE(core.RunTasks(1));
  ASSERT_TRUE(got);
  EXPECT_EQ(backend->calls.load(), 0);
  EXPECT_EQ(got->Skipped(), 2u);
  EXPECT_EQ(got->service_time, Duration(0));
  EXPECT_EQ(got->answers[0].status().code(), StatusCode::kCancelled);

  Batch half = MakeBatch({"a", "b"});
  half.items[0]->over.Set();
  got.reset();
  ex->Run(0, half, [&](BatchResult r) { got = std::move(r); });
  ASSERT_TRUE(core.RunTasks(1));
  ASSERT_TRUE(got);
  EXPECT_EQ(backend->calls.load(), 1);
  EXPECT_EQ(got->Skipped(), 0u);  // this backend computes every item it is given
}

TEST(ThreadPoolExecutorTest, CreateValidates) {
  CoreQueue core;
  EXPECT_FALSE(ThreadPoolExecutor::Create({"x", 0}, std::make_shared<Echo>(), core.Poster()).ok());
  EXPECT_FALSE(ThreadPoolExecutor::Create({"x", 1}, nullptr, core.Poster()).ok());
  EXPECT_FALSE(ThreadPoolExecutor::Create({"x", 1}, std::make_shared<Echo>(), nullptr).ok());
}


TEST(ThreadPoolExecutorTest, ReplicasAreAddedAndRemovedWhileServing) {
  CoreQueue core;
  auto ex = std::move(ThreadPoolExecutor::Create({"echo", 1}, std::make_shared<Echo>(), core.Poster())).value();
  StatusOr<int> added = ex->AddReplica();
  ASSERT_TRUE(added.ok());
  EXPECT_EQ(*added, 1);
  EXPECT_EQ(ex->replicas(), 2);
  Batch batch = MakeBatch({"on the new replica"});
  std::optional<BatchResult> got;
  ex->Run(1, batch, [&](BatchResult r) { got = std::move(r); });
  ASSERT_TRUE(core.RunTasks(1));
  ASSERT_TRUE(got);
  EXPECT_EQ(got->answers[0].value(), "\"on the new replica\"");
  EXPECT_TRUE(ex->RemoveReplica(0).ok());  // its thread stops; the destructor joins it
  EXPECT_EQ(ex->RemoveReplica(7).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ex->replicas(), 2);  // indexes are not reused
}

// A CPU device's core set: each replica's thread runs only there; a core
// this process may not use fails Create, saying which.
class Affinity final : public Backend {
 public:
  std::vector<StatusOr<Answer>> Process(const Batch& batch) override {
    cpu_set_t set;
    CPU_ZERO(&set);
    pthread_getaffinity_np(pthread_self(), sizeof set, &set);
    std::string cores;
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cores += (cores.empty() ? "" : ",") + std::to_string(c);
    }
    return std::vector<StatusOr<Answer>>(batch.items.size(), Answer(cores));
  }
};

TEST(ThreadPoolExecutorTest, ReplicasArePinnedToTheirCores) {
  CoreQueue core;
  auto ex = std::move(ThreadPoolExecutor::Create({"pinned", 1, {{0}}}, std::make_shared<Affinity>(), core.Poster())).value();
  ASSERT_TRUE(ex->AddReplica().ok());  // past the list: the last entry's cores
  for (int replica = 0; replica < 2; ++replica) {
    Batch batch = MakeBatch({"q"});
    std::optional<BatchResult> got;
    ex->Run(replica, batch, [&](BatchResult r) { got = std::move(r); });
    ASSERT_TRUE(core.RunTasks(1));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->answers[0].value(), "0") << replica;
  }
  auto bad = ThreadPoolExecutor::Create({"pinned", 1, {{CPU_SETSIZE - 1}}}, std::make_shared<Affinity>(), core.Poster());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(bad.status().message().find("core " + std::to_string(CPU_SETSIZE - 1) + " is not one this process may run on"),
            std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace tbms
