#include "tbms/report/histogram.h"

#include <algorithm>

namespace tbms {
namespace {
// Dense where deadlines live (1-100 ms), so quantiles near a tloc are close.
constexpr double kLatency[] = {0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075,
                               0.01, 0.0125, 0.015, 0.0175, 0.02, 0.025, 0.03, 0.035, 0.04,
                               0.045, 0.05, 0.055, 0.06, 0.07, 0.08, 0.1, 0.15, 0.25, 0.5,
                               1, 2.5, 5, 10, 30};

// 100 us to ~40 s in 3% steps: for quantiles that are reported, not exported.
const std::vector<double>& FineLatency() {
  static const std::vector<double> bounds = [] {
    std::vector<double> b;
    for (double v = 0.0001; v < 40; v *= 1.03) b.push_back(v);
    return b;
  }();
  return bounds;
}
constexpr double kSizes[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
constexpr double kRatios[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 2, 3, 5, 10};
constexpr auto kRelaxed = std::memory_order_relaxed;
}  // namespace

std::span<const double> Histogram::LatencyBounds() { return kLatency; }
std::span<const double> Histogram::SizeBounds() { return kSizes; }
std::span<const double> Histogram::RatioBounds() { return kRatios; }
std::span<const double> Histogram::FineLatencyBounds() { return FineLatency(); }

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  Reset();
}

void Histogram::Reset() {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, kRelaxed);
  sum_.store(0, kRelaxed);
}

void Histogram::Observe(double value) {
  const auto i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) -
                                     bounds_.begin());
  AddRelaxed<uint64_t>(counts_[i], 1);
  AddRelaxed(sum_, value);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(kRelaxed);
    s.cumulative[i] = total;
  }
  s.sum = sum_.load(kRelaxed);
  return s;
}

double Histogram::Snapshot::Quantile(double q) const {
  const uint64_t n = count();
  if (n == 0) return 0;
  const double rank = q * static_cast<double>(n);
  for (size_t i = 0; i < cumulative.size(); ++i) {
    if (static_cast<double>(cumulative[i]) < rank) continue;
    const double lo = i == 0 ? 0 : bounds[i - 1];
    if (i == bounds.size()) return lo;  // +Inf bucket: its lower bound is all we know
    const double below = i == 0 ? 0 : static_cast<double>(cumulative[i - 1]);
    const double in_bucket = static_cast<double>(cumulative[i]) - below;
    const double frac = in_bucket > 0 ? (rank - below) / in_bucket : 1;
    return lo + (bounds[i] - lo) * std::clamp(frac, 0.0, 1.0);
  }
  return bounds.empty() ? 0 : bounds.back();
}

}  // namespace tbms
