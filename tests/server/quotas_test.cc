// Per-instance quotas: concurrency slots and a per-second token bucket, on
// explicit times (no clock is read).
#include "tbms/server/quotas.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

using std::chrono::milliseconds;

InstanceConfig Instance(int max_concurrent, double max_rps) {
  InstanceConfig i;
  i.name = "qa";
  i.max_concurrent = max_concurrent;
  i.max_rps = max_rps;
  return i;
}

TEST(QuotasTest, ConcurrentSlotsAreTakenAndGivenBack) {
  Quotas q;
  const InstanceConfig qa = Instance(2, 0);
  int retry = 0;
  EXPECT_TRUE(q.Acquire(qa, &retry).ok());
  EXPECT_TRUE(q.Acquire(qa, &retry).ok());
  Status s = q.Acquire(qa, &retry);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(s.message(), "instance 'qa' has 2 requests in flight, its max_concurrent");
  EXPECT_EQ(retry, 1);
  q.Release("qa");
  EXPECT_TRUE(q.Acquire(qa, &retry).ok());
}

TEST(QuotasTest, RateIsABucketOfOneSecond) {
  Quotas q;
  const InstanceConfig qa = Instance(0, 2);
  const Quotas::Clock::time_point t0{std::chrono::seconds(100)};
  int retry = 0;
  EXPECT_TRUE(q.Acquire(qa, &retry, t0).ok());
  EXPECT_TRUE(q.Acquire(qa, &retry, t0).ok());  // the burst: one second's worth
  Status s = q.Acquire(qa, &retry, t0);
  EXPECT_EQ(s.message(), "instance 'qa' is over its max_rps of 2 requests per second");
  EXPECT_EQ(retry, 1);
  EXPECT_FALSE(q.Acquire(qa, &retry, t0 + milliseconds(400)).ok());  // 0.8 tokens
  EXPECT_TRUE(q.Acquire(qa, &retry, t0 + milliseconds(500)).ok());   // 1 token
  for (int i = 0; i < 2; ++i) q.Release("qa");
}

TEST(QuotasTest, ASlowRateTellsHowLongToWait) {
  Quotas q;
  const InstanceConfig qa = Instance(0, 0.25);  // one every 4 s
  const Quotas::Clock::time_point t0{std::chrono::seconds(100)};
  int retry = 0;
  EXPECT_TRUE(q.Acquire(qa, &retry, t0).ok());
  EXPECT_FALSE(q.Acquire(qa, &retry, t0).ok());
  EXPECT_EQ(retry, 4);
}

TEST(QuotasTest, NoQuotaIsNoLimitAndNoState) {
  Quotas q;
  int retry = 0;
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(q.Acquire(Instance(0, 0), &retry).ok());
}

}  // namespace
}  // namespace tbms
