// The online tuner (the talk's dynamic configuration and QPS monitor): per
// model, moves max batch size and max queue delay so that the p99 lag stays
// under the model's lag target as the QPS changes.
//
// Why not Clipper's AIMD on the batch size alone: AIMD probes — it grows the
// batch one step per period until the target is missed, then cuts it — so
// it needs many periods to follow a change of rate and saw-tooths around
// the limit. TBMS already knows what AIMD probes for: the batcher learns
// T_b per batch size and counts arrivals. So each period the tuner plans
// from the formulas (tbms/tune/recommend.h) at the measured rate:
//   - the batch the load needs: the smallest b whose occupancy at the
//     measured rate is at most max_occupancy (b x 1000 / T_b carries it);
//   - max_queue_delay: the time that batch takes to fill at the rate, at
//     most half of what the plan leaves after the batch's own time (the
//     other half is for queueing behind busy replicas);
//   - max_batch_size: the largest b, up to the configured one, whose T_b
//     fits the target, so a burst ships bigger batches, each in time;
// and AIMD acts on what the formulas cannot see (bursts, queueing): the
// plan (and the occupancy cap) is scaled by a margin, which shrinks by a
// factor when the window's p99 misses the target and grows back by a step
// while it is well under. It starts from the batcher's configuration.
// Thread-compatible: OnlineBatching runs in the core's context.
#pragma once

#include <functional>
#include <memory>

#include "tbms/batching/batcher.h"
#include "tbms/common/clock.h"
#include "tbms/loadgen/latency_histogram.h"

namespace tbms {

struct OnlineTunerOptions {
  Duration lag_target{0};  // > 0: the p99 lag to stay under
  int max_batch_cap = 8;   // the model's configured max_batch_size: never exceeded
  double max_occupancy = 0.8;
  Duration period = std::chrono::seconds(1);
  size_t min_samples = 20;  // answers a window needs before its p99 counts
  double decrease = 0.8;    // margin x this when the p99 misses
  double increase = 0.05;   // margin + this while the p99 is under 0.8 x the target
  double min_margin = 0.3;
};

struct WindowStats {
  double qps = 0;           // arrivals per second over the window
  Duration p99_lag{0};
  size_t samples = 0;       // answers the p99 is over
};

struct BatchingDecision {
  int max_batch_size = 1;
  Duration max_queue_delay{0};
  double margin = 1;  // the plan is lag_target x margin
};

class OnlineTuner {
 public:
  explicit OnlineTuner(OnlineTunerOptions options) : options_(options) {}
  // One period's decision. `batch_ms(b)`: the learned T_b in ms; `replicas`
  // serving (>= 1).
  BatchingDecision Decide(const WindowStats& window, const std::function<double(int)>& batch_ms, int replicas);
  double margin() const { return margin_; }

 private:
  const OnlineTunerOptions options_;
  double margin_ = 1;
};

// The tuner attached to one batcher: every period, on the batcher's clock,
// reads the window (arrivals, the lag of what was answered), decides, and
// applies it with Batcher::SetBatching. The batcher must outlive it.
class OnlineBatching {
 public:
  static StatusOr<std::unique_ptr<OnlineBatching>> Create(OnlineTunerOptions options, Batcher* batcher,
                                                          Clock* clock);
  ~OnlineBatching();
  const BatchingDecision& last() const { return last_; }
  const WindowStats& last_window() const { return last_window_; }
  uint64_t decisions() const { return decisions_; }

 private:
  OnlineBatching(OnlineTunerOptions options, Batcher* batcher, Clock* clock);
  void Tick();

  OnlineTuner tuner_;
  const OnlineTunerOptions options_;
  Batcher* const batcher_;
  Clock* const clock_;
  LatencyHistogram window_;
  uint64_t accepted_at_tick_ = 0;
  TimerId timer_ = kNoTimer;
  BatchingDecision last_;
  WindowStats last_window_;
  uint64_t decisions_ = 0;
};

}  // namespace tbms
