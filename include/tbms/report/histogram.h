// Histogram: fixed buckets with atomic counts, written by one thread (the
// core, under its lock) and read by any (scrapes, reports) without a lock.
// Values are in base units (seconds, items). Readers may see a count a
// moment before its sum: reports are approximate by a sample or two, never
// torn in a way that breaks an invariant (buckets are cumulative on read).
#pragma once

#include <atomic>
#include <memory>
#include <span>
#include <vector>

namespace tbms {

// Adds to a counter that has one writer at a time (the core, under its lock):
// a relaxed load and store, not a locked read-modify-write. Readers on other
// threads see each value whole.
template <typename T>
inline void AddRelaxed(std::atomic<T>& counter, T delta) {
  counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

class Histogram {
 public:
  // Upper bounds, ascending; an implicit +Inf bucket follows.
  explicit Histogram(std::span<const double> bounds);

  void Observe(double value);
  void Reset();  // only by the writer

  struct Snapshot {
    std::span<const double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    double sum = 0;
    uint64_t count() const { return cumulative.empty() ? 0 : cumulative.back(); }
    // Linear interpolation inside the bucket holding the q-quantile.
    double Quantile(double q) const;
    double Mean() const { return count() ? sum / static_cast<double>(count()) : 0; }
  };
  Snapshot Read() const;

  // Latency buckets for export, seconds: 100 us to 30 s, dense in 1-100 ms.
  static std::span<const double> LatencyBounds();
  // Latency buckets for reported quantiles: 3% apart (quantiles within ~1.5%).
  static std::span<const double> FineLatencyBounds();
  // Batch sizes, items: 1, 2, 4, ..., 1024.
  static std::span<const double> SizeBounds();
  // Shares of a budget: 0.1 to 1 in tenths (dense where scaling decides), then 1.25 to 10.
  static std::span<const double> RatioBounds();

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds + 1, not cumulative
  std::atomic<double> sum_{0};
};

}  // namespace tbms
