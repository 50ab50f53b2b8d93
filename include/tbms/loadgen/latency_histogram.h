// LatencyHistogram: log-bucketed latencies for load generators, in the
// manner of HdrHistogram. Values are whole microseconds; 0-255 us are kept
// exactly, and each power-of-two range above is cut into 128 equal buckets,
// so a bucket is at most 1/128 (0.78%) of its values wide and a reported
// percentile (the bucket's midpoint, clamped to the exact min and max) is
// within 0.4% of a recorded value. The range is 0 .. 2^26 us (67 s, covering
// 1 us .. 60 s); larger values count in the top bucket, which reports the
// exact Max (Mean too stays exact). 2560 buckets, 20 KiB.
//
// Single-threaded (thread-compatible); merge per-thread histograms with
// Merge.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tbms/common/json_writer.h"
#include "tbms/common/time.h"

namespace tbms {

class LatencyHistogram {
 public:
  LatencyHistogram();

  // Negative durations count as 0.
  void Record(Duration d);
  void Merge(const LatencyHistogram& other);
  void Reset();

  // The q-quantile, q in [0, 1], by nearest rank: the smallest recorded value
  // with at least q of the values at or below it (to the bucket's precision).
  // Percentile(1) is Max(), Percentile(0) is Min(); 0 when empty.
  Duration Percentile(double q) const;
  uint64_t Count() const { return count_; }
  Duration Min() const { return count_ ? Duration(min_) : Duration(0); }
  Duration Max() const { return Duration(max_); }
  double MeanMillis() const;  // exact; 0 when empty

  // {"count":N,"p50":..,"p90":..,"p99":..,"p99_9":..,"max":..,"mean":..}, ms.
  void WriteJson(JsonWriter& w) const;
  std::string Json() const;

  // For tests: the bucket holding `us`, and its [lower, lower + width).
  static int BucketOf(int64_t us);
  static int64_t BucketLower(int bucket);
  static int64_t BucketWidth(int bucket);
  static constexpr int kBuckets = 2560;
  static constexpr int64_t kMaxTracked = (int64_t{1} << 26) - 1;  // us

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  int64_t sum_us_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
};

}  // namespace tbms
