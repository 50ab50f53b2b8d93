#include "tbms/sim/offline_bound.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <random>

namespace tbms {
namespace {

std::vector<Duration> At(std::initializer_list<int64_t> us) {
  std::vector<Duration> out;
  for (int64_t t : us) out.emplace_back(t);
  return out;
}

std::vector<Duration> Repeat(int64_t at_us, int count) { return std::vector<Duration>(static_cast<size_t>(count), Duration(at_us)); }

// T(b) = 2 + b (us), B = 4, tloc 10: a batch of 4 takes 6.
TopModelShape Shape(int replicas = 1) {
  TopModelShape s;
  s.base = Duration(2);
  s.per_item = Duration(1);
  s.max_batch = 4;
  s.replicas = replicas;
  return s;
}

TEST(ReplicaCapacity, HandChecked) {
  const TopModelShape s = Shape();
  EXPECT_EQ(ReplicaCapacity(Duration(2), s, 4), 0u);   // not even T(1) = 3
  EXPECT_EQ(ReplicaCapacity(Duration(3), s, 4), 1u);
  EXPECT_EQ(ReplicaCapacity(Duration(6), s, 4), 4u);   // one full batch
  EXPECT_EQ(ReplicaCapacity(Duration(10), s, 4), 6u);  // 4 + 2 (6 + 4 us)
  EXPECT_EQ(ReplicaCapacity(Duration(12), s, 4), 8u);  // two full batches
  EXPECT_EQ(ReplicaCapacity(Duration(12), s, 2), 6u);  // batches of 2 take 4: three of them
  EXPECT_EQ(ReplicaCapacity(Duration(12), s, 0), 0u);
  TopModelShape flat = s;  // 5 us whatever the size
  flat.base = Duration(5);
  flat.per_item = Duration(0);
  EXPECT_EQ(ReplicaCapacity(Duration(14), flat, 4), 8u);
  TopModelShape free = s;
  free.base = free.per_item = Duration(0);
  EXPECT_EQ(ReplicaCapacity(Duration(1), free, 4), SIZE_MAX);
}

TEST(ReplicaCapacity, EqualsABruteForcePacking) {
  // k batches can carry any total in [k, k * ub]; cap(w) is the best total
  // over every k whose batches fit in w.
  TopModelShape s;
  s.base = Duration(7);
  s.per_item = Duration(3);
  for (int ub = 1; ub <= 6; ++ub) {
    for (int64_t w = 0; w <= 120; ++w) {
      size_t brute = 0;
      for (int64_t k = 0; k * 10 <= w; ++k) {        // k batches
        for (int64_t items = k; items <= k * ub; ++items) {
          if (k * 7 + items * 3 <= w) brute = std::max(brute, static_cast<size_t>(items));
        }
      }
      EXPECT_EQ(ReplicaCapacity(Duration(w), s, ub), brute) << "w=" << w << " ub=" << ub;
    }
  }
}

TEST(OfflineBound, FourAtOnceAllFit) {
  auto b = ComputeOfflineBound(Repeat(0, 4), Duration(10), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->usable_batch, 4);
  EXPECT_EQ(b->upper_bound, 4u);
  EXPECT_EQ(b->greedy, 4u);
  EXPECT_EQ(b->greedy_batches, 1u);
}

TEST(OfflineBound, TenAtOnceOneReplica) {
  // Within [0, 10]: a batch of 4 (6 us) then one of 2 (4 us): 6, and no more.
  auto b = ComputeOfflineBound(Repeat(0, 10), Duration(10), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->upper_bound, 6u);
  EXPECT_EQ(b->greedy, 6u);
}

TEST(OfflineBound, TenAtOnceTwoReplicas) {
  auto b = ComputeOfflineBound(Repeat(0, 10), Duration(10), Shape(2));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->upper_bound, 10u);
  EXPECT_EQ(b->greedy, 10u);
}

TEST(OfflineBound, WindowsBeatThePlainCapacityBound) {
  // Two bursts of 10, far apart: 6 of each, though the whole span could hold 20.
  std::vector<Duration> a = Repeat(0, 10);
  for (Duration d : Repeat(1000, 10)) a.push_back(d);
  auto b = ComputeOfflineBound(a, Duration(10), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->capacity_bound, 20u);
  EXPECT_EQ(b->upper_bound, 12u);
  EXPECT_EQ(b->greedy, 12u);
}

TEST(OfflineBound, SparseRequestsAllAnswered) {
  auto b = ComputeOfflineBound(At({0, 100, 200, 300}), Duration(10), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->upper_bound, 4u);
  EXPECT_EQ(b->greedy, 4u);
  EXPECT_EQ(b->greedy_batches, 4u);
}

TEST(OfflineBound, GreedyWaitsForKnownArrivalsToFillTheBatch) {
  // Every batch takes 4 us, tloc 6. One request at 0, four at 1. Starting at
  // once answers 1 (the four, due at 7, cannot start before 4). Knowing the
  // trace, the planner waits until 1 and runs 4 together (done at 5); the
  // fifth cannot make it. The window [0, 1 + 6] holds one batch: bound 4.
  TopModelShape s;
  s.base = Duration(4);
  s.max_batch = 4;
  auto b = ComputeOfflineBound(At({0, 1, 1, 1, 1}), Duration(6), s);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->greedy, 4u);
  EXPECT_EQ(b->greedy_batches, 1u);
  EXPECT_EQ(b->upper_bound, 4u);
}

TEST(OfflineBound, GreedyBatchesTwoRequestsThatFitTogether) {
  auto b = ComputeOfflineBound(At({0, 1}), Duration(10), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->greedy, 2u);
  EXPECT_EQ(b->greedy_batches, 1u);  // waited for the second: T(2) = 4, done at 5
}

TEST(OfflineBound, BatchLimitedByTloc) {
  // tloc 5: only batches with 2 + b <= 5 count, so b <= 3.
  auto b = ComputeOfflineBound(Repeat(0, 10), Duration(5), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->usable_batch, 3);
  EXPECT_EQ(b->upper_bound, 3u);  // one batch of 3 within [0, 5]
  EXPECT_EQ(b->greedy, 3u);
}

TEST(OfflineBound, NothingFitsWhenOneItemIsTooSlow) {
  auto b = ComputeOfflineBound(Repeat(0, 5), Duration(2), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->usable_batch, 0);
  EXPECT_EQ(b->upper_bound, 0u);
  EXPECT_EQ(b->greedy, 0u);
}

TEST(OfflineBound, EmptyTrace) {
  auto b = ComputeOfflineBound({}, Duration(10), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->upper_bound, 0u);
  EXPECT_EQ(b->greedy, 0u);
}

TEST(OfflineBound, RejectsBadInput) {
  EXPECT_FALSE(ComputeOfflineBound(At({5, 1}), Duration(10), Shape()).ok());
  EXPECT_FALSE(ComputeOfflineBound(At({1}), Duration(0), Shape()).ok());
  TopModelShape s = Shape();
  s.replicas = 0;
  EXPECT_FALSE(ComputeOfflineBound(At({1}), Duration(10), s).ok());
  s = Shape();
  s.max_batch = 0;
  EXPECT_FALSE(ComputeOfflineBound(At({1}), Duration(10), s).ok());
  s = Shape();
  s.per_item = Duration(-1);
  EXPECT_FALSE(ComputeOfflineBound(At({1}), Duration(10), s).ok());
}

// On many random traces (several replicas): greedy <= bound <= count and
// <= the plain capacity bound.
TEST(OfflineBound, GreedyNeverExceedsTheBoundOnRandomTraces) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 200);
    const int64_t spread = 1 + static_cast<int64_t>(rng() % 2000);
    std::vector<Duration> a;
    for (int i = 0; i < n; ++i) a.emplace_back(static_cast<int64_t>(rng() % static_cast<uint64_t>(spread)));
    std::sort(a.begin(), a.end());
    TopModelShape s;
    s.base = Duration(static_cast<int64_t>(rng() % 30));
    s.per_item = Duration(static_cast<int64_t>(rng() % 8));
    s.max_batch = 1 + static_cast<int>(rng() % 8);
    s.replicas = 1 + static_cast<int>(rng() % 4);
    const Duration tloc(10 + static_cast<int64_t>(rng() % 100));
    OfflineBoundOptions opts;
    opts.horizon = 1 + rng() % 64;
    auto b = ComputeOfflineBound(a, tloc, s, opts);
    ASSERT_TRUE(b.ok());
    EXPECT_LE(b->greedy, b->upper_bound) << "trial " << trial;
    EXPECT_LE(b->upper_bound, b->capacity_bound);
    EXPECT_LE(b->upper_bound, static_cast<size_t>(n));
  }
}

// For one replica and a handful of requests, the true optimum by brute
// force: with one tloc for all, some optimal schedule runs its batches in
// arrival order, each a run of the answered requests (swapping two requests
// between batches into arrival order keeps both feasible), starting as early
// as possible. The bound must be >= it and the greedy <= it.
size_t BruteOptimum(const std::vector<int64_t>& a, int64_t L, const TopModelShape& s) {
  const size_t n = a.size();
  size_t best = 0;
  // Each request is assigned a batch label 0 (skip) or 1..n; batches run in
  // label order, each starting as early as possible. Try all labelings in
  // which labels are non-decreasing in arrival order (EDF: optimal order).
  std::vector<int> label(n, 0);
  std::function<void(size_t, int)> rec = [&](size_t i, int last) {
    if (i == n) {
      int64_t free = INT64_MIN;
      size_t served = 0;
      for (int l = 1; l <= static_cast<int>(n); ++l) {
        int64_t ready = INT64_MIN, deadline = INT64_MAX;
        int64_t b = 0;
        for (size_t r = 0; r < n; ++r) {
          if (label[r] != l) continue;
          ++b;
          ready = std::max(ready, a[r]);
          deadline = std::min(deadline, a[r] + L);
        }
        if (b == 0) continue;
        if (b > s.max_batch) return;
        const int64_t start = std::max(ready, free);
        const int64_t end = start + s.base.count() + s.per_item.count() * b;
        if (end > deadline) return;  // this labeling is infeasible
        free = end;
        served += static_cast<size_t>(b);
      }
      best = std::max(best, served);
      return;
    }
    label[i] = 0;
    rec(i + 1, last);
    for (int l = std::max(last, 1); l <= last + 1 && l <= static_cast<int>(n); ++l) {
      label[i] = l;
      rec(i + 1, l);
    }
    label[i] = 0;
  };
  rec(0, 0);
  return best;
}

TEST(OfflineBound, SandwichesTheBruteForceOptimum) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 1500; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 8);
    std::vector<int64_t> raw;
    for (int i = 0; i < n; ++i) raw.push_back(static_cast<int64_t>(rng() % 30));
    std::sort(raw.begin(), raw.end());
    std::vector<Duration> a(raw.begin(), raw.end());
    TopModelShape s;
    s.base = Duration(static_cast<int64_t>(rng() % 6));
    s.per_item = Duration(1 + static_cast<int64_t>(rng() % 3));
    s.max_batch = 1 + static_cast<int>(rng() % 4);
    const int64_t L = 4 + static_cast<int64_t>(rng() % 12);
    auto b = ComputeOfflineBound(a, Duration(L), s);
    ASSERT_TRUE(b.ok());
    const size_t opt = BruteOptimum(raw, L, s);
    EXPECT_LE(b->greedy, opt) << "trial " << trial;
    EXPECT_GE(b->upper_bound, opt) << "trial " << trial;
  }
}

TEST(OfflineBound, DensityBoundsASparseTrace) {
  // One arrival per us, tloc 6, T(b) = 2 + b. A batch of 3 would need its
  // members within 6 - 5 = 1 us of each other: only 2 arrive that close, so
  // every request is in a batch of at most 2, costing T(2)/2 = 2 us of GPU
  // time each. The window [0, 9 + 6] has 15 us: at most 7 answered, where
  // capacity alone (batches of 4 at 1.5 us each) would allow 9.
  std::vector<Duration> a;
  std::vector<int64_t> raw;
  for (int64_t t = 0; t < 10; ++t) {
    a.emplace_back(t);
    raw.push_back(t);
  }
  auto b = ComputeOfflineBound(a, Duration(6), Shape());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(ReplicaCapacity(Duration(15), Shape(), 4), 9u);
  EXPECT_EQ(b->capacity_bound, 7u);
  EXPECT_EQ(b->upper_bound, 7u);
  const size_t opt = BruteOptimum(raw, 6, Shape());
  EXPECT_EQ(opt, 6u);  // pairs (0,1) 1-5, (3,4) 5-9, (7,8) 9-13
  EXPECT_LE(b->greedy, opt);
  EXPECT_GE(b->greedy, 5u);
}

}  // namespace
}  // namespace tbms
