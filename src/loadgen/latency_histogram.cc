#include "tbms/loadgen/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace tbms {
namespace {

constexpr int kSubBits = 7;                    // 128 buckets per power of two
constexpr int64_t kSub = int64_t{1} << kSubBits;
constexpr int64_t kExact = 2 * kSub;           // 0 .. 255 us: one bucket each
// The top power of two, [2^25, 2^26), ends the table.
static_assert(kExact + (25 - kSubBits) * kSub == LatencyHistogram::kBuckets);

}  // namespace

// Bucket layout: [0, 256) one per microsecond; then for each k >= 8 the
// range [2^k, 2^(k+1)) in 128 buckets of width 2^(k-7).
int LatencyHistogram::BucketOf(int64_t us) {
  us = std::clamp<int64_t>(us, 0, kMaxTracked);
  if (us < kExact) return static_cast<int>(us);
  const int k = std::bit_width(static_cast<uint64_t>(us)) - 1;  // >= 8
  const int shift = k - kSubBits;
  const int64_t sub = us >> shift;  // [128, 256)
  return static_cast<int>(kExact + (k - kSubBits - 1) * kSub + (sub - kSub));
}

int64_t LatencyHistogram::BucketLower(int bucket) {
  if (bucket < kExact) return bucket;
  const int64_t rest = bucket - kExact;
  const int k = static_cast<int>(rest / kSub) + kSubBits + 1;
  const int64_t sub = kSub + rest % kSub;
  return sub << (k - kSubBits);
}

int64_t LatencyHistogram::BucketWidth(int bucket) {
  if (bucket < kExact) return 1;
  const int k = static_cast<int>((bucket - kExact) / kSub) + kSubBits + 1;
  return int64_t{1} << (k - kSubBits);
}

LatencyHistogram::LatencyHistogram() : counts_(kBuckets, 0) {}

void LatencyHistogram::Record(Duration d) {
  const int64_t us = std::max<int64_t>(d.count(), 0);
  ++counts_[BucketOf(us)];
  if (count_ == 0 || us < min_) min_ = us;
  if (count_ == 0 || us > max_) max_ = us;
  ++count_;
  sum_us_ += us;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.count_ == 0) return;
  for (int i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  min_ = count_ ? std::min(min_, other.min_) : other.min_;
  max_ = count_ ? std::max(max_, other.max_) : other.max_;
  count_ += other.count_;
  sum_us_ += other.sum_us_;
}

void LatencyHistogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_us_ = min_ = max_ = 0;
}

Duration LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return Duration(0);
  if (!(q > 0)) return Duration(min_);
  if (q >= 1) return Duration(max_);
  const auto rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_) - 1e-9)));
  uint64_t seen = 0;
  for (int i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      if (i == kBuckets - 1) return Duration(max_);  // holds everything past the range
      const int64_t mid = BucketLower(i) + BucketWidth(i) / 2;
      return Duration(std::clamp(mid, min_, max_));
    }
  }
  return Duration(max_);
}

double LatencyHistogram::MeanMillis() const {
  return count_ ? static_cast<double>(sum_us_) / static_cast<double>(count_) / 1000.0 : 0;
}

void LatencyHistogram::WriteJson(JsonWriter& w) const {
  w.BeginObject().Key("count").Int(static_cast<long long>(count_));
  w.Key("p50").Number(ToMillis(Percentile(0.5)));
  w.Key("p90").Number(ToMillis(Percentile(0.9)));
  w.Key("p99").Number(ToMillis(Percentile(0.99)));
  w.Key("p99_9").Number(ToMillis(Percentile(0.999)));
  w.Key("max").Number(ToMillis(Max()));
  w.Key("mean").Number(MeanMillis());
  w.EndObject();
}

std::string LatencyHistogram::Json() const {
  std::string out;
  JsonWriter w(out);
  WriteJson(w);
  return out;
}

}  // namespace tbms
