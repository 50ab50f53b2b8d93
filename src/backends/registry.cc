#include "tbms/backends/registry.h"

#include "tbms/backends/remote/remote_backend.h"
#include "tbms/backends/simulated.h"
#include "tbms/backends/text/text_model.h"

namespace tbms {
namespace {

// Where an embedding's matrix product runs: "gpu:N" for a GPU group, else "cpu".
std::string ProductDevice(const ModelConfig& model) {
  if (model.groups.empty()) return model.device;  // the old way, checked by the house
  const DeviceConfig& d = model.groups.front().device;  // the house allows one device
  return d.kind == DeviceKind::kGpu ? "gpu:" + std::to_string(d.gpu_index) : "cpu";
}

// Per replica, in the order of the instance groups: its device's core set;
// and the device whose failure it reports (the house allows one per model).
ThreadPoolExecutor::Options PoolOptions(const ModelConfig& model, const ExecutorContext& context) {
  ThreadPoolExecutor::Options options{model.name, model.replicas, {}};
  for (const ReplicaGroup& g : model.groups) {
    for (int i = 0; i < g.count && !model.is_remote(); ++i) options.cores.push_back(g.device.cores);
  }
  options.device = model.groups.empty() ? model.device : model.groups.front().device.name;
  options.device_failed = context.device_failed;
  return options;
}

StatusOr<std::unique_ptr<text::TextModel>> LoadText(const ModelConfig& model, const VersionConfig& version) {
  if (model.backend == "keysearch") return text::LoadKeysearch(version.dir);
  if (model.backend == "bayes") return text::LoadBayes(version.dir);
  if (model.backend == "svm") return text::LoadSvm(version.dir);
  if (model.backend == "embedding") return text::LoadEmbeddingOn(version.dir, ProductDevice(model));
  return InvalidArgument("model '" + model.name + "': unknown backend '" + model.backend + "'");
}

// One question through the model before it takes traffic ([warmup]
// question): the first call pays for lazily loaded pages and caches, and a
// model that cannot answer fails its load instead of its first request.
Status WarmUp(text::TextModel& backend, const ModelConfig& model) {
  const std::string& name = model.name;
  Batch batch;
  batch.items.push_back(std::make_shared<const Inputs>(model.warmup.question));
  std::vector<StatusOr<Answer>> answers = backend.Process(batch);
  if (answers.size() != 1 || !answers[0].ok()) {
    return FailedPrecondition("model '" + name + "' failed its warm-up: " +
                              (answers.empty() ? "no answer" : answers[0].status().message()));
  }
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Executor>> LoadBackend(const ModelConfig& model, const VersionConfig& version,
                                                const ExecutorContext& context) {
  if (model.is_simulated()) {
    SimulatedExecutor::Options options = version.simulated;
    options.model = model.name;
    options.replicas = model.replicas;
    auto executor = SimulatedExecutor::Create(std::move(options), context.clock);  // nothing to warm
    if (!executor.ok()) return executor.status();
    return std::unique_ptr<Executor>(std::move(executor).value());
  }
  if (model.is_remote()) {  // no warm-up: the remote serves already, and may be down for now
    auto remote = RemoteBackend::Create(model, context.clock);
    if (!remote.ok()) return remote.status();
    auto executor = ThreadPoolExecutor::Create(PoolOptions(model, context), std::move(remote).value(), context.core);
    if (!executor.ok()) return executor.status();
    return std::unique_ptr<Executor>(std::move(executor).value());
  }
  auto loaded = LoadText(model, version);
  if (!loaded.ok()) return loaded.status();
  std::shared_ptr<text::TextModel> backend = std::move(loaded).value();
  TBMS_RETURN_IF_ERROR(WarmUp(*backend, model));
  auto executor = ThreadPoolExecutor::Create(PoolOptions(model, context), std::move(backend), context.core);
  if (!executor.ok()) return executor.status();
  return std::unique_ptr<Executor>(std::move(executor).value());
}

}  // namespace tbms
