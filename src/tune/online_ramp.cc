#include "tbms/tune/online_ramp.h"

#include <memory>

#include "curve_executor.h"
#include "tbms/common/virtual_clock.h"
#include "tbms/loadgen/arrivals.h"

namespace tbms {
namespace {

// Records each answer's lag in the histogram of the step it arrived in.
class StepSink final : public ItemSink {
 public:
  StepSink(const Clock& clock, size_t steps) : clock_(clock), lags_(steps) {}
  void Arrived(uint64_t token, size_t step) {
    if (arrivals_.size() <= token) arrivals_.resize(token + 1);
    arrivals_[token] = {clock_.Now(), step};
  }
  void OnItemDone(uint64_t token, StatusOr<Answer> /*result*/) override {
    const auto& [at, step] = arrivals_[token];
    lags_[step].Record(clock_.Now() - at);
  }
  const LatencyHistogram& lags(size_t step) const { return lags_[step]; }

 private:
  const Clock& clock_;
  std::vector<std::pair<TimePoint, size_t>> arrivals_;
  std::vector<LatencyHistogram> lags_;
};

StatusOr<std::vector<RampOutcome>> RunOne(const OnlineRampOptions& o, const RampConfig& config) {
  VirtualClock clock;
  CurveExecutor executor(o.curve, o.replicas, &clock);
  StepSink sink(clock, o.qps.size());
  Batcher::Options options;
  options.model = o.curve.model;
  options.max_batch_size = config.max_batch_size;
  options.max_queue_delay = config.max_queue_delay;
  options.max_queue_size = 1'000'000;
  auto batcher = Batcher::Create(std::move(options), &clock, &executor, &sink);
  if (!batcher.ok()) return batcher.status();
  std::unique_ptr<OnlineBatching> online;
  if (config.online) {
    auto created = OnlineBatching::Create({.lag_target = o.lag_target, .max_batch_cap = o.max_batch_cap},
                                          batcher->get(), &clock);
    if (!created.ok()) return created.status();
    online = std::move(created).value();
  }
  const auto inputs = std::make_shared<const Inputs>("ramp");
  std::vector<RampOutcome> out(o.qps.size());
  uint64_t token = 0;
  TimePoint at = clock.Now();
  for (size_t step = 0; step < o.qps.size(); ++step) {
    auto arrivals = ArrivalGenerator::Create({.rate_qps = o.qps[step], .cv = 1, .seed = o.seed + step});
    if (!arrivals.ok()) return arrivals.status();
    const TimePoint end = at + o.step;
    const Duration busy_before = executor.busy();
    for (at += arrivals->Next(); at < end; at += arrivals->Next()) {
      clock.AdvanceTo(at);
      sink.Arrived(token, step);
      WorkItem item{.token = token++, .inputs = inputs, .deadline = at + std::chrono::hours(1),
                    .est = Millis(o.curve.at(1))};
      if (!(*batcher)->Enqueue(std::move(item)).ok()) return ResourceExhausted("the ramp's queue overflowed");
    }
    clock.AdvanceTo(end);
    at = end;
    RampOutcome& r = out[step];
    r.max_batch_size = (*batcher)->batching().max_batch_size;
    r.max_queue_delay_ms = ToMillis((*batcher)->batching().max_queue_delay);
    r.busy_ms_per_response = ToMillis(executor.busy() - busy_before);  // divided below, once counted
  }
  online.reset();  // stops its timer: the clock can now run dry
  if (!clock.RunUntilIdle()) return Internal("the ramp did not settle");
  (*batcher)->Close();
  for (size_t step = 0; step < o.qps.size(); ++step) {
    const LatencyHistogram& lags = sink.lags(step);
    RampOutcome& r = out[step];
    r.p99_ms = ToMillis(lags.Percentile(0.99));
    r.mean_ms = lags.MeanMillis();
    if (lags.Count() > 0) r.busy_ms_per_response /= double(lags.Count());
  }
  return out;
}

}  // namespace

std::vector<double> UpAndDown(std::vector<double> levels) {
  for (size_t i = levels.size(); i-- > 1;) levels.push_back(levels[i - 1]);
  return levels;
}

StatusOr<std::vector<RampStepResult>> RunOnlineRamp(const OnlineRampOptions& o) {
  if (o.qps.empty() || o.qps.size() > 1000) return InvalidArgument("a ramp has 1 to 1000 steps");
  if (o.replicas < 1 || o.replicas > Batcher::kMaxReplicas) return InvalidArgument("bad replica count");
  if (o.step < std::chrono::milliseconds(100) || o.step > std::chrono::hours(1)) {
    return InvalidArgument("a ramp step lasts 0.1 s to 1 h");
  }
  if (o.max_batch_cap > o.curve.max_batch()) return InvalidArgument("the curve is shorter than the tuner's cap");
  std::vector<RampStepResult> steps(o.qps.size());
  for (size_t i = 0; i < o.qps.size(); ++i) steps[i].qps = o.qps[i];
  for (const RampConfig& config : o.configs) {
    if (config.max_batch_size > o.curve.max_batch()) {
      return InvalidArgument(config.name + ": the curve has no batch size " + std::to_string(config.max_batch_size));
    }
    auto outcomes = RunOne(o, config);
    if (!outcomes.ok()) return outcomes.status();
    for (size_t i = 0; i < steps.size(); ++i) steps[i].outcomes.push_back((*outcomes)[i]);
  }
  return steps;
}

}  // namespace tbms
