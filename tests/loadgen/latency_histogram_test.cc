// LatencyHistogram: the bucket layout (contiguous, exact below 256 us, at
// most 1/128 wide), percentiles on known data within 1%, exact min/max/mean,
// clamping, merge, reset and the JSON summary.
#include "tbms/loadgen/latency_histogram.h"

#include <gtest/gtest.h>

#include <random>

namespace tbms {
namespace {

using H = LatencyHistogram;

TEST(LatencyHistogramTest, BucketsAreContiguousAndNarrow) {
  EXPECT_EQ(H::BucketOf(0), 0);
  EXPECT_EQ(H::BucketOf(255), 255);
  EXPECT_EQ(H::BucketOf(256), 256);
  EXPECT_EQ(H::BucketOf(H::kMaxTracked), H::kBuckets - 1);
  EXPECT_EQ(H::BucketOf(int64_t{1} << 40), H::kBuckets - 1);
  EXPECT_EQ(H::BucketOf(-5), 0);
  int64_t next = 0;
  for (int b = 0; b < H::kBuckets; ++b) {
    ASSERT_EQ(H::BucketLower(b), next) << b;
    const int64_t w = H::BucketWidth(b);
    ASSERT_TRUE(b < 256 ? w == 1 : w * 128 <= H::BucketLower(b)) << b;
    ASSERT_EQ(H::BucketOf(H::BucketLower(b)), b);
    ASSERT_EQ(H::BucketOf(H::BucketLower(b) + w - 1), b);
    next += w;
  }
  EXPECT_EQ(next, H::kMaxTracked + 1);
  EXPECT_GT(H::kMaxTracked, 60'000'000);  // 60 s
}

TEST(LatencyHistogramTest, EmptyIsAllZero) {
  H h;
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Percentile(0.5), Duration(0));
  EXPECT_EQ(h.Max(), Duration(0));
  EXPECT_EQ(h.MeanMillis(), 0);
  EXPECT_EQ(h.Json(), R"({"count":0,"p50":0,"p90":0,"p99":0,"p99_9":0,"max":0,"mean":0})");
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  H h;
  for (int i = 1; i <= 100; ++i) h.Record(Duration(i));
  EXPECT_EQ(h.Percentile(0.5), Duration(50));
  EXPECT_EQ(h.Percentile(0.9), Duration(90));
  EXPECT_EQ(h.Percentile(0.99), Duration(99));
  EXPECT_EQ(h.Percentile(1), Duration(100));
  EXPECT_EQ(h.Percentile(0), Duration(1));
  EXPECT_EQ(h.Min(), Duration(1));
  EXPECT_DOUBLE_EQ(h.MeanMillis(), 0.0505);
}

TEST(LatencyHistogramTest, PercentilesOnKnownDataWithinOnePercent) {
  // 1 ms .. 100 s in 1 us steps would be 1e8 records; use a uniform spread
  // over 1 us .. 60 s and a log-uniform one, and compare with the exact order
  // statistics.
  std::mt19937_64 rng(1);
  for (int shape = 0; shape < 2; ++shape) {
    H h;
    std::vector<int64_t> values;
    for (int i = 0; i < 200000; ++i) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
      const int64_t v = shape == 0 ? 1 + static_cast<int64_t>(u * 60e6)
                                   : static_cast<int64_t>(std::exp(u * std::log(60e6)));
      values.push_back(v);
      h.Record(Duration(v));
    }
    std::sort(values.begin(), values.end());
    for (double q : {0.01, 0.1, 0.5, 0.9, 0.99, 0.999}) {
      const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
      const double exact = static_cast<double>(values[rank - 1]);
      const double got = static_cast<double>(h.Percentile(q).count());
      EXPECT_NEAR(got, exact, exact * 0.01) << "shape " << shape << " q " << q;
    }
    EXPECT_EQ(h.Max(), Duration(values.back()));
    EXPECT_EQ(h.Percentile(1), Duration(values.back()));
  }
}

TEST(LatencyHistogramTest, MaxAndMeanAreExactBeyondTheRange) {
  H h;
  h.Record(Millis(10));
  h.Record(std::chrono::seconds(100));  // past 67 s: top bucket, exact max
  EXPECT_EQ(h.Max(), std::chrono::seconds(100));
  EXPECT_DOUBLE_EQ(h.MeanMillis(), 50005);
  EXPECT_EQ(h.Percentile(0.99), std::chrono::seconds(100));  // clamped to max
  h.Record(Duration(-3));  // counts as 0
  EXPECT_EQ(h.Min(), Duration(0));
  EXPECT_EQ(h.Count(), 3u);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverything) {
  H a, b, all;
  std::mt19937_64 rng(2);
  for (int i = 0; i < 10000; ++i) {
    const Duration d(static_cast<int64_t>(rng() % 5'000'000));
    (i % 3 ? a : b).Record(d);
    all.Record(d);
  }
  H merged;
  merged.Merge(a);
  merged.Merge(b);
  merged.Merge(H());  // an empty one changes nothing
  EXPECT_EQ(merged.Count(), all.Count());
  EXPECT_EQ(merged.Max(), all.Max());
  EXPECT_EQ(merged.Min(), all.Min());
  EXPECT_DOUBLE_EQ(merged.MeanMillis(), all.MeanMillis());
  for (double q : {0.1, 0.5, 0.9, 0.99, 0.999}) EXPECT_EQ(merged.Percentile(q), all.Percentile(q));
  EXPECT_EQ(merged.Json(), all.Json());
  // Merging into a histogram whose minimum is higher.
  H high;
  high.Record(Millis(100));
  high.Merge(a);
  EXPECT_EQ(high.Min(), a.Min());
  EXPECT_EQ(high.Max(), std::max(a.Max(), Duration(Millis(100))));
}

TEST(LatencyHistogramTest, ResetEmpties) {
  H h;
  h.Record(Millis(5));
  h.Reset();
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Max(), Duration(0));
  h.Record(Millis(2));
  EXPECT_EQ(h.Min(), Millis(2));
  EXPECT_EQ(h.Percentile(0.5), Millis(2));
}

TEST(LatencyHistogramTest, Json) {
  H h;
  for (int i = 0; i < 1000; ++i) h.Record(Millis(10));  // 10000 us: bucket [9984, 10048)
  h.Record(Millis(250));
  // Percentiles are bucket midpoints (10016 us here), clamped to the exact
  // min and max; max and mean are exact.
  EXPECT_EQ(h.Json(), R"({"count":1001,"p50":10.016,"p90":10.016,"p99":10.016,"p99_9":10.016,)"
                      R"("max":250,"mean":10.24})");
  std::string out;
  JsonWriter w(out);
  w.BeginObject().Key("latency_ms");
  h.WriteJson(w);
  w.Key("n").Int(1).EndObject();
  EXPECT_TRUE(out.starts_with(R"({"latency_ms":{"count":1001,)")) << out;
  EXPECT_TRUE(out.ends_with(R"(,"mean":10.24},"n":1})")) << out;
}

}  // namespace
}  // namespace tbms
