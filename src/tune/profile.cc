#include "tbms/tune/profile.h"

#include <algorithm>
#include <future>
#include <memory>
#include <optional>

#include "tbms/batching/batcher.h"

namespace tbms {
namespace {

StatusOr<Duration> ServiceTimeOf(const BatchResult& result) {
  for (const StatusOr<Answer>& answer : result.answers) {
    if (!answer.ok()) return answer.status();
  }
  return result.service_time;
}

// Each item its own Inputs, as b tries would send: a backend may treat
// copies of one try's inputs as one.
Batch BatchOf(int size, const std::string& question) {
  Batch batch;
  for (int i = 0; i < size; ++i) batch.items.push_back(std::make_shared<const Inputs>(question));
  return batch;
}

}  // namespace

Status ValidateProfileOptions(const ProfileOptions& options) {
  if (options.max_batch < 1 || options.max_batch > Batcher::kMaxBatchSize) {
    return InvalidArgument("max batch must be in [1, " + std::to_string(Batcher::kMaxBatchSize) + "]");
  }
  if (options.repeats < 1 || options.repeats > 1000) return InvalidArgument("repeats must be in [1, 1000]");
  for (size_t i = 0; i < options.sizes.size(); ++i) {
    const int b = options.sizes[i];
    if (b < 1 || b > options.max_batch || (i > 0 && b <= options.sizes[i - 1])) {
      return InvalidArgument("batch sizes must ascend within [1, " + std::to_string(options.max_batch) + "]");
    }
  }
  return OkStatus();
}

StatusOr<BatchTimes> ProfileBatchTimes(const RunBatch& run, const ProfileOptions& options,
                                       const ProfileProgress& progress) {
  if (Status s = ValidateProfileOptions(options); !s.ok()) return s;
  std::vector<int> sizes = options.sizes;
  if (sizes.empty()) {
    for (int b = 1; b <= options.max_batch; ++b) sizes.push_back(b);
  }
  BatchTimes times(options.max_batch);
  for (const int b : sizes) {
    if (progress) progress(b, options.max_batch);
    const Batch batch = BatchOf(b, options.question);
    if (auto warm = run(batch); !warm.ok()) return warm.status();
    for (int r = 0; r < options.repeats; ++r) {
      auto t = run(batch);
      if (!t.ok()) return t.status();
      times[b - 1].push_back(std::max(*t, Duration(std::chrono::microseconds(1))));  // a 0 ms model still takes a µs
    }
  }
  return times;
}

StatusOr<BatchCurve> ProfileBatchCurve(std::string model, const RunBatch& run, const ProfileOptions& options,
                                       const ProfileProgress& progress) {
  auto times = ProfileBatchTimes(run, options, progress);
  if (!times.ok()) return times.status();
  BatchCurve curve{.model = std::move(model), .batch_ms = {}};
  for (std::vector<Duration>& runs : *times) {
    std::nth_element(runs.begin(), runs.begin() + runs.size() / 2, runs.end());
    curve.batch_ms.push_back(ToMillis(runs[runs.size() / 2]));
  }
  return curve;
}

StatusOr<BatchTimes> ProfileSimulated(const SimulatedExecutor::Options& model, const ProfileOptions& options) {
  VirtualClock clock;
  SimulatedExecutor::Options one = model;
  one.seed = ~one.seed;  // draws of its own, not the first batches the model will serve
  one.replicas = 1;
  one.failure_rate = 0;  // its injected faults are for the tries it serves; a warm-up measures times
  one.hang_rate = 0;
  auto executor = SimulatedExecutor::Create(std::move(one), &clock);
  if (!executor.ok()) return executor.status();
  return ProfileBatchTimes(RunOnVirtualClock(**executor, clock), options);
}

Status CheckWarmupCount(int64_t count) {
  if (count == 0 || (count >= kMinWarmupCount && count <= kMaxWarmupCount)) return OkStatus();
  return InvalidArgument("must be 0 or " + std::to_string(kMinWarmupCount) + " to " + std::to_string(kMaxWarmupCount) +
                         ", not " + std::to_string(count) + ": a batch size is planned on its own times once it " +
                         "has run " + std::to_string(kMinWarmupCount) + " times");
}

std::vector<int> WarmupSizes(int max_batch, int count) {
  const int fit = std::max(1, ServiceTimeOptions{}.window / std::max(count, 1));  // sizes whose runs a class keeps
  std::vector<int> sizes;
  for (int lo = 1; lo <= max_batch;) {
    int hi = lo;  // the class of lo: [lo, hi]
    while (hi < max_batch && ServiceTimeModel::ClassOf(hi + 1) == ServiceTimeModel::ClassOf(lo)) ++hi;
    const int n = hi - lo + 1;
    if (n <= fit) {
      for (int b = lo; b <= hi; ++b) sizes.push_back(b);
    } else {
      for (int j = 1; j <= fit; ++j) sizes.push_back(lo + (n - 1) * j / fit);  // ends at hi
    }
    lo = hi + 1;
  }
  return sizes;
}

void SeedBatchTimes(const BatchTimes& times, TimePoint at, ServiceTimeModel& model) {
  for (size_t b = 1; b <= times.size(); ++b) {
    for (Duration t : times[b - 1]) model.Seed(static_cast<int>(b), t, at);
  }
}

RunBatch RunOnVirtualClock(Executor& executor, VirtualClock& clock) {
  return [&executor, &clock](const Batch& batch) -> StatusOr<Duration> {
    std::optional<BatchResult> result;
    executor.Run(0, batch, [&result](BatchResult r) { result = std::move(r); });
    if (!clock.RunUntilIdle() || !result) return Internal("the simulated batch did not finish");
    return ServiceTimeOf(*result);
  };
}

RunBatch RunOnCore(Executor& executor, CoreRunner& core, Duration timeout) {
  return [&executor, &core, timeout](const Batch& batch) -> StatusOr<Duration> {
    // The batch and the promise are shared with the completion: a batch that
    // outlives the timeout must still find both alive.
    auto running = std::make_shared<const Batch>(batch);
    auto promise = std::make_shared<std::promise<BatchResult>>();
    auto done = promise->get_future();
    core.RunAndWait([&] {
      executor.Run(0, *running, [running, promise](BatchResult r) { promise->set_value(std::move(r)); });
    });
    if (done.wait_for(timeout) != std::future_status::ready) {
      // No one waits for it now: what can stop does (a text model between
      // items, a remote call), so the executor's end does not wait for all of it.
      for (const auto& item : running->items) item->over.Set();
      running->abandoned.Cancel();
      return DeadlineExceeded("a batch of " + std::to_string(batch.items.size()) + " did not finish in " +
                              std::to_string(ToMillis(timeout) / 1000) + " s");
    }
    return ServiceTimeOf(done.get());
  };
}

}  // namespace tbms
