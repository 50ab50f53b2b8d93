// A simulated replica set whose batches take exactly a BatchCurve's T_b, on
// an injected clock: what the tuner's check and online ramp serve with.
// Thread-compatible (the clock's context).
#pragma once

#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/tune/batch_curve.h"

namespace tbms {

// A replica that takes exactly the curve's time for each batch size.
class CurveExecutor final : public Executor {
 public:
  CurveExecutor(const BatchCurve& curve, int replicas, Clock* clock)
      : curve_(curve), replicas_(replicas), clock_(clock) {}
  int replicas() const override { return replicas_; }
  void Run(int /*replica*/, const Batch& batch, Done done) override {
    const int n = static_cast<int>(batch.items.size());
    const Duration t = Millis(curve_.at(n));
    busy_ += t;
    ++batches_;
    items_ += n;
    clock_->Schedule(clock_->Now() + t, [open = open(), n, t, done = std::move(done)] {
      if (!open->load(std::memory_order_relaxed)) return;
      BatchResult result{.service_time = t, .answers = std::vector<StatusOr<Answer>>(n, Answer("1"))};
      done(std::move(result));
    });
  }
  Duration busy() const { return busy_; }
  double mean_batch() const { return batches_ == 0 ? 0 : double(items_) / batches_; }

 private:
  const BatchCurve& curve_;
  const int replicas_;
  Clock* const clock_;
  Duration busy_{0};
  size_t batches_ = 0, items_ = 0;
};

}  // namespace tbms
