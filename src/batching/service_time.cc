#include "tbms/batching/service_time.h"

#include <algorithm>
#include <bit>
#include <cmath>

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

void ServiceTimeModel::Seed(int batch_size, Duration service_time, TimePoint at) {
  Ring& ring = rings_[ClassOf(batch_size)];
  ring.seeded = ring.samples.empty() || ring.seeded;  // nothing of its own yet
  Add(ring, batch_size, service_time, at);
}

void ServiceTimeModel::Observe(int batch_size, Duration service_time, TimePoint at) {
  Ring& ring = rings_[ClassOf(batch_size)];
  if (ring.seeded) {  // its first sample of its own: the seeds count as of now
    ring.seeded = false;
    ring.newest = at;
  }
  Add(ring, batch_size, service_time, at);
}

void ServiceTimeModel::Add(Ring& ring, int batch_size, Duration service_time, TimePoint at) {
  if (at - ring.newest > options_.max_age) {  // what it knew is stale: start over
    ring.samples.clear();
    ring.sizes.clear();
    ring.size_sum = 0;
    ring.next = 0;
  }
  ring.newest = std::max(ring.newest, at);
  const int64_t us = std::max<int64_t>(service_time.count(), 0);
  const int size = std::max(batch_size, 1);
  ring.size_sum += size;
  if (ring.samples.size() < static_cast<size_t>(options_.window)) {
    ring.samples.push_back(us);
    ring.sizes.push_back(size);
  } else {
    ring.samples[ring.next] = us;
    ring.size_sum -= ring.sizes[ring.next];
    ring.sizes[ring.next] = size;
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

bool ServiceTimeModel::HasData(int c, TimePoint now) const {
  const Ring& ring = rings_[c];
  const bool stale = now != TimePoint::max() && !ring.seeded && now - ring.newest > options_.max_age;
  return !stale && ring.samples.size() >= static_cast<size_t>(options_.min_samples);
}

namespace {

// The line through (x0, a) and (x1, b), at x.
Duration Along(double x0, Duration a, double x1, Duration b, double x) {
  const double t = (x - x0) / (x1 - x0);
  return Duration(static_cast<Duration::rep>(std::llround(static_cast<double>(a.count()) +
                                                          t * static_cast<double>((b - a).count()))));
}

}  // namespace

LatencyEstimate ServiceTimeModel::Estimate(int batch_size, Duration prior, TimePoint now) const {
  const int want = ClassOf(batch_size);
  // A single item with no data of its own: the caller's estimate, not a larger
  // batch's time. Borrowing the slower time could predict the model late
  // forever, and a model never run is never learned (found by tbms sim).
  const bool known = HasData(want, now);
  if (want == 0 && !known && prior > Duration(0)) return {prior, prior, true};
  const auto x = static_cast<double>(batch_size);
  if (known && rings_[want].mean_size() == x) return Quantiles(rings_[want]);  // a point (always, for 1 and 2)
  int below = -1, above = -1;  // the nearest points at or below x, and above it
  for (int c = 0; c < kClasses; ++c) {
    if (!HasData(c, now)) continue;
    if (rings_[c].mean_size() <= x) {
      below = c;
    } else {
      above = c;
      break;
    }
  }
  if (below < 0 && above < 0) return {prior, prior, true};
  if (below < 0) return Quantiles(rings_[above]);  // below the curve: a smaller batch is no slower than this
  const LatencyEstimate lo = Quantiles(rings_[below]);
  const double x_lo = rings_[below].mean_size();
  int from = above;  // the second point of the line through `below`
  if (from < 0) {  // past the last point: the one before it
    from = below - 1;
    while (from >= 0 && !HasData(from, now)) --from;
  }
  if (from < 0 || x == x_lo) return lo;
  const LatencyEstimate other = Quantiles(rings_[from]);
  const double x_other = rings_[from].mean_size();
  if (x_other == x_lo) return lo;
  // Between two points, or past the last on the line of the last two; never below `below`'s.
  return {std::max(lo.expected, Along(x_lo, lo.expected, x_other, other.expected, x)),
          std::max(lo.high, Along(x_lo, lo.high, x_other, other.high, x))};
}

}  // namespace tbms
