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
  return OkStatus();
}

StatusOr<BatchCurve> ProfileBatchCurve(std::string model, const RunBatch& run, const ProfileOptions& options,
                                       const ProfileProgress& progress) {
  if (Status s = ValidateProfileOptions(options); !s.ok()) return s;
  BatchCurve curve{.model = std::move(model), .batch_ms = {}};
  std::vector<double> runs(options.repeats);
  for (int b = 1; b <= options.max_batch; ++b) {
    if (progress) progress(b, options.max_batch);
    const Batch batch = BatchOf(b, options.question);
    if (auto warm = run(batch); !warm.ok()) return warm.status();
    for (double& ms : runs) {
      auto t = run(batch);
      if (!t.ok()) return t.status();
      ms = std::max(ToMillis(*t), 0.001);  // a 0 ms model still takes a microsecond
    }
    std::nth_element(runs.begin(), runs.begin() + runs.size() / 2, runs.end());
    curve.batch_ms.push_back(runs[runs.size() / 2]);
  }
  return curve;
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
      return DeadlineExceeded("a batch of " + std::to_string(batch.items.size()) + " did not finish in " +
                              std::to_string(ToMillis(timeout) / 1000) + " s");
    }
    return ServiceTimeOf(done.get());
  };
}

}  // namespace tbms
