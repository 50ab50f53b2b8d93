// CoreRunner: tasks run one at a time, in the order each thread posted them,
// at once when the core is free, and never lost when threads race for it.
// The race tests are for TSan as much as for their assertions.
#include "tbms/common/core_runner.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace tbms {
namespace {

TEST(CoreRunnerTest, AFreeCoreRunsTheTaskBeforePostReturns) {
  CoreRunner core;
  bool ran = false;
  core.Post([&] { ran = true; });
  EXPECT_TRUE(ran);
  EXPECT_FALSE(core.in_core());
}

TEST(CoreRunnerTest, ATaskPostedFromATaskRunsAfterItInOrder) {
  int groups = 0;
  CoreRunner core([&] { ++groups; });
  std::vector<int> order;
  core.Post([&] {
    EXPECT_TRUE(core.in_core());
    core.Post([&] { order.push_back(2); });
    core.Post([&] { order.push_back(3); });
    order.push_back(1);
  });
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(groups, 2);  // the first task, then the two it posted in one pass
  EXPECT_EQ(core.tasks_run(), 3u);
  EXPECT_EQ(core.groups_run(), 2u);
}

TEST(CoreRunnerTest, RunAndWaitReturnsAfterTheTaskRan) {
  CoreRunner core;
  int value = 0;
  std::thread other([&] { core.RunAndWait([&] { value = 42; }); });
  other.join();
  EXPECT_EQ(value, 42);
}

// Producers race to post; the counter is a plain int, touched only on the
// core: every increment lands, and each producer's tasks run in its order.
TEST(CoreRunnerTest, ConcurrentPostsRunOneAtATimeInEachProducersOrder) {
  constexpr int kThreads = 4;
  constexpr int kPosts = 20000;
  CoreRunner core;
  int count = 0;
  std::vector<int> last(kThreads, -1);
  bool in_order = true;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPosts; ++i) {
        core.Post([&, t, i] {
          ++count;
          in_order = in_order && last[t] == i - 1;
          last[t] = i;
        });
      }
    });
  }
  for (auto& th : threads) th.join();
  core.RunAndWait([] {});  // everything posted before is visible after it
  EXPECT_EQ(count, kThreads * kPosts);
  EXPECT_TRUE(in_order);
  EXPECT_EQ(core.tasks_run(), static_cast<uint64_t>(kThreads * kPosts) + 1);
}

}  // namespace
}  // namespace tbms
