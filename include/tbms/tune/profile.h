// Profiling a model's batch-time curve: batches of 1 .. max_batch items run
// on one replica of its executor, each size `repeats` times after a warm-up
// run, and T_b is the median of the service times the executor measured
// (a median, because one slow run, a page fault or a GC pause elsewhere,
// should not decide a batch size). A model's [warmup] runs such batches when
// a version loads (the sizes its service times can keep: WarmupSizes), and
// keeps every time.
// Thread-compatible; a RunBatch is called on the caller's thread.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/backends/simulated.h"
#include "tbms/batching/service_time.h"
#include "tbms/common/core_runner.h"
#include "tbms/common/status.h"
#include "tbms/common/virtual_clock.h"
#include "tbms/tune/batch_curve.h"

namespace tbms {

struct ProfileOptions {
  int max_batch = 16;  // in [1, Batcher::kMaxBatchSize]
  int repeats = 5;     // in [1, 1000]
  std::string question = "what is time-based model serving";
  // The batch sizes to run, ascending, each in [1, max_batch]; empty: every
  // size from 1 to max_batch (a curve needs them all).
  std::vector<int> sizes{};
};
Status ValidateProfileOptions(const ProfileOptions& options);

// Runs one batch to completion and returns its service time as the executor
// measured it, or the batch's first error.
using RunBatch = std::function<StatusOr<Duration>(const Batch&)>;
// Called before each batch size is profiled: (batch size, max batch).
using ProfileProgress = std::function<void(int, int)>;

// BatchTimes (service_time.h): [b - 1] holds the `repeats` runs of a batch
// of b, each after one run that is not kept (it pays for the size's first
// allocations and lazily loaded pages); empty for a size not run.
StatusOr<BatchTimes> ProfileBatchTimes(const RunBatch& run, const ProfileOptions& options,
                                       const ProfileProgress& progress = nullptr);
// T_b: the median of each size's times.
StatusOr<BatchCurve> ProfileBatchCurve(std::string model, const RunBatch& run, const ProfileOptions& options,
                                       const ProfileProgress& progress = nullptr);
// A simulated model's times without running it: a copy of its executor on
// a clock of its own (RunOnVirtualClock), so they take no real time; its
// stragglers and jitter are drawn (from a seed of its own, so they are not
// the draws the model then serves with), its failures and hangs are not.
StatusOr<BatchTimes> ProfileSimulated(const SimulatedExecutor::Options& model, const ProfileOptions& options);
// A [warmup] count (batches of each size): 0 (none), or from the samples a
// batch size needs before it is planned on its own times (fewer would warm
// caches and plan nothing) to 100. The message says what it "must be", for
// the caller to name the key or flag.
constexpr int kMinWarmupCount = ServiceTimeOptions{}.min_samples;
constexpr int kMaxWarmupCount = 100;
Status CheckWarmupCount(int64_t count);
// The sizes a [warmup] of `count` runs: every size of a batch-size class
// whose runs fit the class's window of samples (ServiceTimeOptions::window),
// else as many sizes as fit, spread over the class, its largest included.
// Runs past the window would only push out the ones before them, so the
// warm-up's cost stays bounded (about 10 windows of batches) however large
// max_batch is; with the default window and count 8, every size up to 32
// runs.
std::vector<int> WarmupSizes(int max_batch, int count);
// A model's [warmup]: its times seed a batcher's service times
// (ServiceTimeModel::Seed), as batches that finished `at` (when the version
// starts to serve).
void SeedBatchTimes(const BatchTimes& times, TimePoint at, ServiceTimeModel& model);

// A simulated executor on a virtual clock: each run completes by advancing
// the clock to its end, so a profile takes no real time and is exact.
RunBatch RunOnVirtualClock(Executor& executor, VirtualClock& clock);
// A real backend: Run is posted to `core`, and the call waits (up to
// `timeout`) for the executor to hand the result back. Past the timeout
// the batch's items are marked over and its work abandoned, so what can
// stop (a text model between items, a remote call) does.
RunBatch RunOnCore(Executor& executor, CoreRunner& core, Duration timeout);

}  // namespace tbms
