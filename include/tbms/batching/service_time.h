// ServiceTimeModel: a model's batch service time, learned online.
//
// Observations are kept per batch-size class (1, 2, 3-4, 5-8, ... up to 512)
// in a ring of the most recent `window` samples; the median (E) and a high
// quantile (P, p99 by default) are recomputed lazily when asked, once a
// sixteenth of the ring is new (at once while the ring is still filling), so
// a busy model pays for a selection every few batches, not every batch.
// A class with `min_samples` is a point of the model's batch-time curve, at
// the mean size of its batches; a size between two points is interpolated,
// one above the last is extrapolated from the last two (a + b x n, the
// talk's formula; never falling), one below the first takes the first's.
// So a batch of 3 is planned at its own time, not at 3-4's or 5-8's: a size
// the model has not run yet is neither borrowed from a slower class (it
// would never be run, so never learned) nor guessed. With no point at all,
// and for a single item while size 1 has none, the caller's prior (`est`)
// is used for both E and P.
// A class whose newest sample is older than `max_age` counts as having no
// data: a model predicted late under a burst is never launched, so it never
// learns that the burst is over; forgetting lets the prior launch it again
// (at most one probe per max_age while it stays slow).
// Thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "tbms/common/time.h"

namespace tbms {

struct LatencyEstimate {
  Duration expected{0};  // E: median
  Duration high{0};      // P: high quantile
  bool guessed = false;  // the caller's est: the model's own times are not learned yet
};

// Measured service times by batch size: [b - 1] holds the runs of a batch
// of b (a profile, a [warmup]).
using BatchTimes = std::vector<std::vector<Duration>>;

struct ServiceTimeOptions {
  double quantile = 0.99;  // P is this quantile
  int min_samples = 8;     // per batch-size class before the prior is dropped
  int window = 128;        // most recent samples kept per class
  Duration max_age = std::chrono::seconds(10);  // samples older than this are forgotten
};

class ServiceTimeModel {
 public:
  using Options = ServiceTimeOptions;
  explicit ServiceTimeModel(Options options = {});

  // `at` is when the batch finished; `now` is when the estimate is for
  // (TimePoint::max(): ignore age, for callers without a clock).
  void Observe(int batch_size, Duration service_time, TimePoint at = {});
  // A sample measured before serving (a [warmup]), as of `at`: while its
  // class has no sample of its own, its seeds do not age, so a version whose
  // first tries come late (a readiness gate, a quiet hour), or a size it
  // seldom runs, still plans on them; from the class's first run on, they
  // count as observed then and age as any. On a class that has run: Observe.
  void Seed(int batch_size, Duration service_time, TimePoint at);
  LatencyEstimate Estimate(int batch_size, Duration prior, TimePoint now = TimePoint::max()) const;
  int64_t observations() const { return observations_; }
  // The batch-size class a batch of this size is kept in: 0 for 1, 1 for 2,
  // 2 for 3-4, 3 for 5-8, ..., the last for 257 and more.
  static int ClassOf(int batch_size);

 private:
  static constexpr int kClasses = 10;  // 1, 2, 4, ..., 512
  struct Ring {
    std::vector<int64_t> samples;  // microseconds, at most window
    std::vector<int> sizes;        // each sample's batch size
    int64_t size_sum = 0;
    size_t next = 0;
    TimePoint newest;  // when the latest sample was observed
    bool seeded = false;  // holds only Seed's samples: they do not age
    mutable size_t fresh = 0;  // samples since the quantiles were computed
    mutable LatencyEstimate cached;
    double mean_size() const { return static_cast<double>(size_sum) / static_cast<double>(samples.size()); }
  };
  void Add(Ring& ring, int batch_size, Duration service_time, TimePoint at);  // into the ring, forgetting a stale one
  const LatencyEstimate& Quantiles(const Ring& ring) const;
  bool HasData(int c, TimePoint now) const;

  // Constant after construction.
  Options options_;
  std::array<Ring, kClasses> rings_;
  int64_t observations_ = 0;
  mutable std::vector<int64_t> scratch_;
};

}  // namespace tbms
