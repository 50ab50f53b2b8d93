// How a version of each backend a model house can name is loaded. Loading
// reads the version's artifacts and warms the backend up (one question
// through the model), so a version is ready for traffic the moment it is
// installed; it may take long and runs on the house loader's thread, never
// on the core. Remote executors (KServe v2, Triton) and GPU executors plug in
// here. The backend names and the files each needs are checked by the house
// (src/house/config.cc).
#pragma once

#include <memory>

#include "tbms/backends/executor.h"
#include "tbms/backends/thread_pool_executor.h"
#include "tbms/common/clock.h"
#include "tbms/house/config.h"

namespace tbms {

// Loads and warms one version, to run in `context` (the simulator completes
// on its clock; CPU backends post their completions to its core).
// FAILED_PRECONDITION / INVALID_ARGUMENT with the reason when it cannot.
StatusOr<std::unique_ptr<Executor>> LoadBackend(const ModelConfig& model, const VersionConfig& version,
                                                const ExecutorContext& context);

}  // namespace tbms
