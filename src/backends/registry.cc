#include "tbms/backends/registry.h"

#include "tbms/backends/simulated.h"

namespace tbms {

const std::vector<std::string_view>& BackendNames() {
  static const std::vector<std::string_view> names = {"simulated"};
  return names;
}

StatusOr<std::unique_ptr<Executor>> LoadBackend(const ModelConfig& model, const VersionConfig& version,
                                                Clock* clock) {
  if (model.backend == "simulated") {
    SimulatedExecutor::Options options = version.simulated;
    options.model = model.name;
    options.instances = model.instances;
    auto executor = SimulatedExecutor::Create(std::move(options), clock);  // nothing to warm
    if (!executor.ok()) return executor.status();
    return std::unique_ptr<Executor>(std::move(executor).value());
  }
  return InvalidArgument("model '" + model.name + "': unknown backend '" + model.backend + "'");
}

}  // namespace tbms
