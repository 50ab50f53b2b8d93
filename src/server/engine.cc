#include "tbms/server/engine.h"

#include <boost/asio/post.hpp>

namespace tbms {

Engine::Engine(boost::asio::any_io_executor executor)
    : executor_(executor), clock_(std::move(executor), &core_mu_) {}

Engine::~Engine() {
  std::lock_guard lock(core_mu_);
  clock_.Stop();
  broker_.reset();
  models_.clear();
}

StatusOr<Policy> ParsePolicy(std::string_view name) {
  if (name == "tbms") return Policy::kTbms;
  if (name == "single") return Policy::kSingle;
  if (name == "default-on-miss") return Policy::kDefaultOnMiss;
  if (name == "drop-late") return Policy::kDropLate;
  return InvalidArgument("unknown policy '" + std::string(name) +
                         "' (expected tbms, single, default-on-miss or drop-late)");
}

StatusOr<std::unique_ptr<Engine>> Engine::Create(Options options,
                                                 boost::asio::any_io_executor executor) {
  std::unique_ptr<Engine> engine(new Engine(std::move(executor)));
  std::lock_guard lock(engine->core_mu_);
  engine->policy_ = options.policy;
  const bool baseline_launch = options.policy == Policy::kSingle || options.policy == Policy::kDefaultOnMiss;
  options.broker.launch_predicted_late = baseline_launch;
  options.broker.wait_past_deadline = options.policy == Policy::kSingle;
  for (SimulatedModelSpec& spec : options.simulated) spec.batching.drop_only_expired = baseline_launch;
  auto broker = Broker::Create(options.broker, &engine->clock_);
  if (!broker.ok()) return broker.status();
  engine->broker_ = std::move(broker).value();
  engine->started_ = engine->clock_.Now();
  if (options.metrics) {
    const auto unix_now = std::chrono::duration_cast<Duration>(
        std::chrono::system_clock::now().time_since_epoch());
    engine->stats_ = std::make_unique<StatsRegistry>(256, unix_now - engine->started_.time_since_epoch());
  }
  if (options.simulated.empty()) return InvalidArgument("no models to serve");
  for (SimulatedModelSpec& spec : options.simulated) {
    TBMS_RETURN_IF_ERROR(engine->AddSimulated(std::move(spec)));
  }
  return engine;
}

Status Engine::AddSimulated(SimulatedModelSpec spec) {
  const std::string name = spec.simulated.model;
  if (by_name_.count(name) != 0) return InvalidArgument("model '" + name + "' is given twice");
  auto entry = std::make_unique<ModelEntry>();
  entry->name = name;
  entry->default_est = spec.default_est;
  auto executor = SimulatedExecutor::Create(std::move(spec.simulated), &clock_);
  if (!executor.ok()) return executor.status();
  entry->executor = std::move(executor).value();
  spec.batching.model = name;
  if (stats_) spec.batching.stats = stats_->AddModel(name, entry->version, "cpu", entry->executor->instances());
  auto batcher = Batcher::Create(std::move(spec.batching), &clock_, entry->executor.get(), broker_.get());
  if (!batcher.ok()) return batcher.status();
  entry->batcher = std::move(batcher).value();
  by_name_.emplace(name, entry.get());
  models_.push_back(std::move(entry));
  return OkStatus();
}

const ModelEntry* Engine::FindModel(std::string_view name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

Status Engine::Submit(std::string_view instance, TryRequest request, Broker::Done done) {
  if (policy_ != Policy::kTbms && request.candidates.size() > 1) {  // baselines: top model only
    request.candidates.resize(1);
    request.members.resize(request.candidates[0].first + request.candidates[0].count);
  }
  std::lock_guard lock(core_mu_);
  if (stats_) request.stats = stats_->Task(instance, request);
  Status s = broker_->Submit(std::move(request), std::move(done));
  clock_.Poll();
  return s;
}

size_t Engine::pending() const {
  std::lock_guard lock(core_mu_);
  return broker_->pending();
}

ReportContext Engine::ReportNow() const {
  ReportContext ctx;
  ctx.now = clock_.Now();  // steady_clock: safe without the lock
  ctx.wall = std::chrono::system_clock::now();
  ctx.uptime_s = std::chrono::duration<double>(ctx.now - started_).count();
  ctx.pending_tries = pending();
  return ctx;
}

void Engine::PostToCore(std::function<void()> task) {
  boost::asio::post(executor_, [this, task = std::move(task)] {
    std::lock_guard lock(core_mu_);
    task();
    clock_.Poll();
  });
}

void Engine::Stop() {
  std::lock_guard lock(core_mu_);
  clock_.Stop();
}

}  // namespace tbms
