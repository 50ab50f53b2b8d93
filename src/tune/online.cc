#include "tbms/tune/online.h"

#include <algorithm>

namespace tbms {

BatchingDecision OnlineTuner::Decide(const WindowStats& window, const std::function<double(int)>& batch_ms,
                                     int replicas) {
  const double target_ms = ToMillis(options_.lag_target);
  if (window.samples >= options_.min_samples) {
    if (window.p99_lag > options_.lag_target) {
      margin_ = std::max(options_.min_margin, margin_ * options_.decrease);
    } else if (ToMillis(window.p99_lag) < 0.8 * target_ms) {
      margin_ = std::min(1.0, margin_ + options_.increase);
    }
  }
  // A missed p99 is queueing or waiting: the margin plans both tighter, a
  // busy share further under max_occupancy (bigger batches carry the rate
  // with more idle time) and less of the target spent on filling them.
  const double plan_ms = target_ms * margin_;
  const double occupancy_cap = options_.max_occupancy * margin_;
  const int cap = options_.max_batch_cap;
  const double q = window.qps / std::max(1, replicas);
  int need = cap;  // none carries the rate: the biggest
  for (int b = 1; b <= cap; ++b) {
    if (q * batch_ms(b) / (1000.0 * b) <= occupancy_cap) {
      need = b;
      break;
    }
  }
  // Room for bursts: the largest batch, up to the configured one, that fits
  // the target (a size not run yet reads as the nearest learned; once run,
  // its real time corrects the next decision).
  int largest = need;
  for (int b = cap; b > need; --b) {
    if (batch_ms(b) <= target_ms) {
      largest = b;
      break;
    }
  }
  double delay_ms = 0;
  // Half of what the plan leaves after the batch's own time may go to
  // filling it; the other half is for queueing behind busy replicas.
  if (q > 0 && need > 1) delay_ms = std::min(1000.0 / q * (need - 1), std::max(0.0, plan_ms - batch_ms(need)) / 2);
  return {.max_batch_size = largest, .max_queue_delay = Millis(delay_ms), .margin = margin_};
}

StatusOr<std::unique_ptr<OnlineBatching>> OnlineBatching::Create(OnlineTunerOptions options, Batcher* batcher,
                                                                  Clock* clock) {
  if (batcher == nullptr || clock == nullptr) return InvalidArgument("online tuner needs a batcher and a clock");
  if (options.lag_target <= Duration(0)) return InvalidArgument("online tuner: lag target must be > 0");
  if (options.max_batch_cap < 1 || options.max_batch_cap > Batcher::kMaxBatchSize) {
    return InvalidArgument("online tuner: max batch must be in [1, " + std::to_string(Batcher::kMaxBatchSize) + "]");
  }
  if (!(options.max_occupancy > 0 && options.max_occupancy <= 1)) {
    return InvalidArgument("online tuner: max occupancy must be in (0, 1]");
  }
  if (options.period < std::chrono::milliseconds(10)) return InvalidArgument("online tuner: period must be >= 10 ms");
  if (!(options.decrease > 0 && options.decrease < 1) || !(options.increase >= 0 && options.increase <= 1) ||
      !(options.min_margin > 0 && options.min_margin <= 1)) {
    return InvalidArgument("online tuner: decrease in (0, 1), increase in [0, 1], min margin in (0, 1]");
  }
  return std::unique_ptr<OnlineBatching>(new OnlineBatching(options, batcher, clock));
}

OnlineBatching::OnlineBatching(OnlineTunerOptions options, Batcher* batcher, Clock* clock)
    : tuner_(options), options_(options), batcher_(batcher), clock_(clock), accepted_at_tick_(batcher->accepted()) {
  last_ = {.max_batch_size = batcher->batching().max_batch_size,
           .max_queue_delay = batcher->batching().max_queue_delay,
           .margin = 1};
  batcher_->set_lag_window(&window_);
  timer_ = clock_->Schedule(clock_->Now() + options_.period, [this] { Tick(); });
}

OnlineBatching::~OnlineBatching() {
  if (timer_ != kNoTimer) clock_->Cancel(timer_);
  batcher_->set_lag_window(nullptr);
}

void OnlineBatching::Tick() {
  const uint64_t accepted = batcher_->accepted();
  last_window_ = {.qps = double(accepted - accepted_at_tick_) / (ToMillis(options_.period) / 1000),
                  .p99_lag = window_.Percentile(0.99),
                  .samples = window_.Count()};
  accepted_at_tick_ = accepted;
  window_.Reset();
  const TimePoint now = clock_->Now();
  // Unlearned sizes read as 0 ms (no prior): the tuner then batches greedily.
  auto batch_ms = [this, now](int b) {
    return ToMillis(batcher_->service_times().Estimate(b, Duration(0), now).expected);
  };
  last_ = tuner_.Decide(last_window_, batch_ms, std::max(1, batcher_->serving_replicas()));
  ++decisions_;
  // Decide's sizes are in [1, cap] and its delay >= 0: SetBatching accepts them.
  (void)batcher_->SetBatching(last_.max_batch_size, last_.max_queue_delay);
  timer_ = clock_->Schedule(now + options_.period, [this] { Tick(); });
}

}  // namespace tbms
