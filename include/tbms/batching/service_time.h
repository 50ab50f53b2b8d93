// ServiceTimeModel: a model's batch service time, learned online.
//
// Observations are kept per batch-size class (1, 2, 3-4, 5-8, ... up to 512)
// in a ring of the most recent `window` samples; the median (E) and a high
// quantile (P, p99 by default) are recomputed lazily when asked, once a
// sixteenth of the ring is new (at once while the ring is still filling), so
// a busy model pays for a selection every few batches, not every batch. Until a class has `min_samples`, the nearest class that has enough
// stands in (larger classes first: a bigger batch is never faster), and with
// no data at all the caller's prior (`est`) is used for both E and P.
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
  LatencyEstimate Estimate(int batch_size, Duration prior, TimePoint now = TimePoint::max()) const;
  int64_t observations() const { return observations_; }

 private:
  static constexpr int kClasses = 10;  // 1, 2, 4, ..., 512
  struct Ring {
    std::vector<int64_t> samples;  // microseconds, at most window
    size_t next = 0;
    TimePoint newest;  // when the latest sample was observed
    mutable size_t fresh = 0;  // samples since the quantiles were computed
    mutable LatencyEstimate cached;
  };
  static int ClassOf(int batch_size);
  const LatencyEstimate& Quantiles(const Ring& ring) const;

  // Constant after construction.
  Options options_;
  std::array<Ring, kClasses> rings_;
  int64_t observations_ = 0;
  mutable std::vector<int64_t> scratch_;
};

}  // namespace tbms
