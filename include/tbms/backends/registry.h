// The backends a model house can name, and how a version of each is loaded.
// Loading reads the version's artifacts and warms the backend up, so that a
// version is ready for traffic the moment it is installed; it may take long
// and runs on the house loader's thread, never on the core.
// Remote executors (KServe v2, Triton) and GPU executors plug in here.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/common/clock.h"
#include "tbms/house/config.h"

namespace tbms {

// The backend names a model.toml may use ("mix" is not a backend: the broker runs mixes).
const std::vector<std::string_view>& BackendNames();

// Loads and warms one version. `clock` is the core's (executors complete on
// it). FAILED_PRECONDITION / INVALID_ARGUMENT with the reason when it cannot.
StatusOr<std::unique_ptr<Executor>> LoadBackend(const ModelConfig& model, const VersionConfig& version,
                                                Clock* clock);

}  // namespace tbms
