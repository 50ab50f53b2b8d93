// Cancellation: the registered stop runs once, on Cancel or at once when the
// cancel came first, never after its registration ends; across threads.
#include "tbms/common/cancellation.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace tbms {
namespace {

TEST(CancellationTest, CancelRunsTheRegisteredStopOnce) {
  Cancellation c;
  int stops = 0;
  const std::function<void()> stop = [&] { ++stops; };
  {
    Cancellation::Registration r(&c, stop);
    EXPECT_EQ(stops, 0);
    c.Cancel();
    c.Cancel();
    EXPECT_EQ(stops, 1);
  }
  EXPECT_TRUE(c.cancelled());
}

TEST(CancellationTest, ACancelBeforeTheWorkStartsStopsItAtOnce) {
  Cancellation c;
  c.Cancel();
  int stops = 0;
  const std::function<void()> stop = [&] { ++stops; };
  Cancellation::Registration r(&c, stop);
  EXPECT_EQ(stops, 1);
}

TEST(CancellationTest, NothingRunsAfterTheRegistrationEnds) {
  Cancellation c;
  int stops = 0;
  const std::function<void()> stop = [&] { ++stops; };
  { Cancellation::Registration r(&c, stop); }
  c.Cancel();
  EXPECT_EQ(stops, 0);
  c.Reset();
  EXPECT_FALSE(c.cancelled());
  Cancellation::Registration r(&c, stop);
  EXPECT_EQ(stops, 0) << "reset: the earlier cancel is gone";
}

TEST(CancellationTest, ACopyStartsFresh) {
  Cancellation c;
  c.Cancel();
  const Cancellation copy = c;
  EXPECT_FALSE(copy.cancelled());
}

TEST(CancellationTest, AWorkerWaitingOnAnotherThreadIsWokenByTheCancel) {
  Cancellation c;
  std::promise<void> registered;
  auto worker = std::async(std::launch::async, [&] {
    std::promise<void> stopped;
    const std::function<void()> stop = [&] { stopped.set_value(); };
    Cancellation::Registration r(&c, stop);
    registered.set_value();
    return stopped.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready;
  });
  registered.get_future().wait();
  c.Cancel();
  EXPECT_TRUE(worker.get());
}

}  // namespace
}  // namespace tbms
