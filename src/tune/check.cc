#include "tbms/tune/check.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "curve_executor.h"
#include "tbms/batching/batcher.h"
#include "tbms/common/virtual_clock.h"
#include "tbms/loadgen/arrivals.h"

namespace tbms {
namespace {

class LagSink final : public ItemSink {
 public:
  LagSink(const Clock& clock, size_t requests) : clock_(clock), enqueued_(requests) {}
  void Enqueued(uint64_t token) { enqueued_[token] = clock_.Now(); }
  void OnItemDone(uint64_t token, StatusOr<Answer> /*result*/) override {
    lags_ms_.push_back(ToMillis(clock_.Now() - enqueued_[token]));
    last_ = clock_.Now();
  }
  std::vector<double>& lags_ms() { return lags_ms_; }
  TimePoint last() const { return last_; }

 private:
  const Clock& clock_;
  std::vector<TimePoint> enqueued_;
  std::vector<double> lags_ms_;
  TimePoint last_;
};

}  // namespace

StatusOr<CheckResult> CheckOnVirtualClock(const BatchCurve& curve, const OperatingPoint& point, double qps,
                                          size_t requests, uint64_t seed) {
  if (requests < 1 || requests > 10'000'000) return InvalidArgument("check requests must be in [1, 10000000]");
  if (point.batch_size < 1 || point.batch_size > curve.max_batch()) {
    return InvalidArgument("the curve has no batch size " + std::to_string(point.batch_size));
  }
  auto arrivals = ArrivalGenerator::Create({.rate_qps = qps, .cv = 1.0, .seed = seed});
  if (!arrivals.ok()) return arrivals.status();

  VirtualClock clock;
  CurveExecutor executor(curve, point.replicas, &clock);
  LagSink sink(clock, requests);
  Batcher::Options options;
  options.model = curve.model;
  options.max_batch_size = point.batch_size;
  options.max_queue_delay = Millis(point.queue_delay_ms);
  options.max_queue_size = requests;
  auto batcher = Batcher::Create(std::move(options), &clock, &executor, &sink);
  if (!batcher.ok()) return batcher.status();

  CheckResult out{.requests = requests};
  const auto inputs = std::make_shared<const Inputs>("check");
  const TimePoint start = clock.Now();
  TimePoint at = start;
  for (size_t i = 0; i < requests; ++i) {
    at += arrivals->Next();
    clock.AdvanceTo(at);
    sink.Enqueued(i);
    // No deadline to speak of: the check measures lag, it drops nothing.
    WorkItem item{.token = i, .inputs = inputs, .deadline = at + std::chrono::hours(1),
                  .est = Millis(curve.at(1))};
    if (!(*batcher)->Enqueue(std::move(item)).ok()) ++out.refused;
  }
  if (!clock.RunUntilIdle()) return Internal("the check did not settle");
  (*batcher)->Close();

  std::vector<double>& lags = sink.lags_ms();
  if (!lags.empty()) {
    out.mean_lag_ms = std::accumulate(lags.begin(), lags.end(), 0.0) / lags.size();
    const size_t p99 = std::min(lags.size() - 1, lags.size() * 99 / 100);
    std::nth_element(lags.begin(), lags.begin() + p99, lags.end());
    out.p99_lag_ms = lags[p99];
  }
  const double span_ms = ToMillis(sink.last() - start);
  if (span_ms > 0) out.occupancy = ToMillis(executor.busy()) / (span_ms * point.replicas);
  out.mean_batch = executor.mean_batch();
  return out;
}

}  // namespace tbms
