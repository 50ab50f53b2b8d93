// Histogram: bucket placement (a value equal to a bound belongs to that
// bound's bucket), cumulative reads ending in +Inf, sum and mean, quantile
// interpolation on hand-computed cases, the empty histogram, and Reset.
#include "tbms/report/histogram.h"

#include <gtest/gtest.h>

#include <vector>

namespace tbms {
namespace {

constexpr double kBounds[] = {1, 2, 4};

using Counts = std::vector<uint64_t>;

TEST(HistogramTest, ValueEqualToABoundGoesInThatBucket) {
  Histogram h(kBounds);
  h.Observe(1);  // le=1
  h.Observe(2);  // le=2
  h.Observe(4);  // le=4
  EXPECT_EQ(h.Read().cumulative, (Counts{1, 2, 3, 3}));
}

TEST(HistogramTest, ValuesBetweenBoundsGoUp) {
  Histogram h(kBounds);
  h.Observe(0);     // le=1
  h.Observe(1.01);  // le=2
  h.Observe(1.99);  // le=2
  h.Observe(2.5);   // le=4
  EXPECT_EQ(h.Read().cumulative, (Counts{1, 3, 4, 4}));
}

TEST(HistogramTest, AboveTheLastBoundIsInfOnly) {
  Histogram h(kBounds);
  h.Observe(4.0001);
  h.Observe(1e9);
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (Counts{0, 0, 0, 2}));
  EXPECT_EQ(s.count(), 2u);
}

TEST(HistogramTest, ReadIsCumulativeAndEndsWithTheCount) {
  Histogram h(kBounds);
  for (double v : {0.5, 1.5, 1.5, 3.0, 10.0}) h.Observe(v);
  const Histogram::Snapshot s = h.Read();
  ASSERT_EQ(s.bounds.size(), 3u);
  EXPECT_EQ(s.bounds[0], 1);
  EXPECT_EQ(s.bounds[2], 4);
  EXPECT_EQ(s.cumulative, (Counts{1, 3, 4, 5}));
  EXPECT_EQ(s.count(), 5u);
  for (size_t i = 1; i < s.cumulative.size(); ++i) EXPECT_LE(s.cumulative[i - 1], s.cumulative[i]);
}

TEST(HistogramTest, SumAndMean) {
  Histogram h(kBounds);
  for (double v : {0.5, 1.5, 1.5, 3.0, 10.0}) h.Observe(v);
  const Histogram::Snapshot s = h.Read();
  EXPECT_DOUBLE_EQ(s.sum, 16.5);
  EXPECT_DOUBLE_EQ(s.Mean(), 3.3);
}

// Buckets (0,1] 1, (1,2] 2, (2,4] 1, (4,+Inf) 1; cumulative 1 3 4 5.
TEST(HistogramTest, QuantileInterpolatesInsideTheBucket) {
  Histogram h(kBounds);
  for (double v : {0.5, 1.5, 1.5, 3.0, 10.0}) h.Observe(v);
  const Histogram::Snapshot s = h.Read();
  // q=0.5: rank 2.5 is in (1,2], 1 below, 2 inside: 1 + (2.5 - 1) / 2 = 1.75.
  EXPECT_DOUBLE_EQ(s.Quantile(0.5), 1.75);
  // q=0.2: rank 1 is the whole of (0,1]: its upper bound.
  EXPECT_DOUBLE_EQ(s.Quantile(0.2), 1.0);
  // q=0.1: rank 0.5, half of (0,1].
  EXPECT_DOUBLE_EQ(s.Quantile(0.1), 0.5);
  // q=0.7: rank 3.5 is in (2,4], 3 below, 1 inside: 2 + 2 * 0.5 = 3.
  EXPECT_DOUBLE_EQ(s.Quantile(0.7), 3.0);
  // q=0.8: rank 4, the top of (2,4].
  EXPECT_DOUBLE_EQ(s.Quantile(0.8), 4.0);
  // q=0.9: rank 4.5 is in +Inf: its lower bound is all that is known.
  EXPECT_DOUBLE_EQ(s.Quantile(0.9), 4.0);
  EXPECT_DOUBLE_EQ(s.Quantile(1.0), 4.0);
}

TEST(HistogramTest, QuantileSkipsEmptyBuckets) {
  Histogram h(kBounds);
  for (int i = 0; i < 4; ++i) h.Observe(3);  // all in (2,4]
  const Histogram::Snapshot s = h.Read();
  EXPECT_DOUBLE_EQ(s.Quantile(0.5), 3.0);   // rank 2 of 4 inside (2,4]
  EXPECT_DOUBLE_EQ(s.Quantile(0.25), 2.5);  // rank 1
  EXPECT_DOUBLE_EQ(s.Quantile(1.0), 4.0);
}

TEST(HistogramTest, EmptyHistogram) {
  Histogram h(kBounds);
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (Counts{0, 0, 0, 0}));
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.sum, 0);
  EXPECT_EQ(s.Mean(), 0);
  EXPECT_EQ(s.Quantile(0.5), 0);
  EXPECT_EQ(s.Quantile(0.99), 0);
}

TEST(HistogramTest, DefaultSnapshotIsEmpty) {
  Histogram::Snapshot s;
  EXPECT_EQ(s.count(), 0u);
  EXPECT_EQ(s.Mean(), 0);
  EXPECT_EQ(s.Quantile(0.5), 0);
}

TEST(HistogramTest, ResetClearsCountsAndSum) {
  Histogram h(kBounds);
  for (double v : {0.5, 1.5, 3.0, 10.0}) h.Observe(v);
  h.Reset();
  Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (Counts{0, 0, 0, 0}));
  EXPECT_EQ(s.sum, 0);
  h.Observe(2);
  s = h.Read();
  EXPECT_EQ(s.cumulative, (Counts{0, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(s.sum, 2);
}

TEST(HistogramTest, NoBoundsIsOneInfBucket) {
  Histogram h(std::span<const double>{});
  h.Observe(5);
  h.Observe(7);
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative, (Counts{2}));
  EXPECT_DOUBLE_EQ(s.Mean(), 6);
  EXPECT_EQ(s.Quantile(0.5), 0);  // +Inf's lower bound
}

TEST(HistogramTest, LatencyBoundsAreSecondsFrom100UsTo30s) {
  const auto b = Histogram::LatencyBounds();
  ASSERT_FALSE(b.empty());
  EXPECT_DOUBLE_EQ(b.front(), 0.0001);
  EXPECT_DOUBLE_EQ(b.back(), 30);
  for (size_t i = 1; i < b.size(); ++i) EXPECT_LT(b[i - 1], b[i]) << i;
  Histogram h(b);
  h.Observe(0.05);  // a bound: le=0.05
  const Histogram::Snapshot s = h.Read();
  for (size_t i = 0; i < b.size(); ++i) {
    EXPECT_EQ(s.cumulative[i], b[i] >= 0.05 ? 1u : 0u) << b[i];
  }
}

TEST(HistogramTest, SizeBoundsArePowersOfTwoTo1024) {
  const auto b = Histogram::SizeBounds();
  ASSERT_EQ(b.size(), 11u);
  double want = 1;
  for (double bound : b) {
    EXPECT_EQ(bound, want);
    want *= 2;
  }
  Histogram h(b);
  h.Observe(3);  // le=4
  h.Observe(8);  // le=8
  const Histogram::Snapshot s = h.Read();
  EXPECT_EQ(s.cumulative[1], 0u);  // le=2
  EXPECT_EQ(s.cumulative[2], 1u);  // le=4
  EXPECT_EQ(s.cumulative[3], 2u);  // le=8
  EXPECT_DOUBLE_EQ(s.Mean(), 5.5);
}

}  // namespace
}  // namespace tbms
