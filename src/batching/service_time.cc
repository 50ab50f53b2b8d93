#include "tbms/batching/service_time.h"

#include <algorithm>
#include <bit>

namespace tbms {

ServiceTimeModel::ServiceTimeModel(Options options) : options_(options) {
  options_.window = std::max(options_.window, 1);
  options_.min_samples = std::clamp(options_.min_samples, 1, options_.window);
}

int ServiceTimeModel::ClassOf(int batch_size) {
  if (batch_size <= 1) return 0;
  const int c = std::bit_width(static_cast<unsigned>(batch_size - 1));
  return std::min(c, kClasses - 1);
}

void ServiceTimeModel::Observe(int batch_size, Duration service_time, TimePoint at) {
  Ring& ring = rings_[ClassOf(batch_size)];
  if (at - ring.newest > options_.max_age) {  // what it knew is stale: start over
    ring.samples.clear();
    ring.next = 0;
  }
  ring.newest = std::max(ring.newest, at);
  const int64_t us = std::max<int64_t>(service_time.count(), 0);
  if (ring.samples.size() < static_cast<size_t>(options_.window)) {
    ring.samples.push_back(us);
  } else {
    ring.samples[ring.next] = us;
    ring.next = (ring.next + 1) % ring.samples.size();
  }
  ++ring.fresh;
  ++observations_;
}

const LatencyEstimate& ServiceTimeModel::Quantiles(const Ring& ring) const {
  const bool filling = ring.samples.size() < static_cast<size_t>(options_.window);
  const size_t stale_after = filling ? 1 : std::max<size_t>(1, ring.samples.size() / 16);
  if (ring.fresh < stale_after) return ring.cached;
  scratch_.assign(ring.samples.begin(), ring.samples.end());
  auto at = [&](double q) {
    auto k = static_cast<size_t>(q * static_cast<double>(scratch_.size() - 1) + 0.5);
    std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<ptrdiff_t>(k), scratch_.end());
    return Duration(scratch_[k]);
  };
  ring.cached.high = at(options_.quantile);
  ring.cached.expected = at(0.5);
  ring.fresh = 0;
  return ring.cached;
}

LatencyEstimate ServiceTimeModel::Estimate(int batch_size, Duration prior, TimePoint now) const {
  const int want = ClassOf(batch_size);
  auto enough = [&](int c) {
    const Ring& ring = rings_[c];
    const bool stale = now != TimePoint::max() && now - ring.newest > options_.max_age;
    return !stale && ring.samples.size() >= static_cast<size_t>(options_.min_samples);
  };
  if (enough(want)) return Quantiles(rings_[want]);
  // A single item with no data of its own: the caller's estimate, not a larger
  // batch's time. Borrowing the slower time could predict the model late
  // forever, and a model never run is never learned (found by tbms sim).
  if (want == 0 && prior > Duration(0)) return {prior, prior, true};
  for (int d = 1; d < kClasses; ++d) {
    if (want + d < kClasses && enough(want + d)) return Quantiles(rings_[want + d]);
    if (want - d >= 0 && enough(want - d)) return Quantiles(rings_[want - d]);
  }
  return {prior, prior, true};
}

}  // namespace tbms
