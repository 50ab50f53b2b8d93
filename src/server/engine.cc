#include "tbms/server/engine.h"

#include "tbms/backends/gpu_telemetry.h"

namespace tbms {

Engine::Engine(Options options, Clock* clock, CoreRunner* core)
    : policy_(options.policy), clock_(clock), core_(core), started_(clock->Now()) {}

Engine::~Engine() {
  models_->Close();  // the batchers report to the broker: they go first (off the core, see there)
}

StatusOr<std::unique_ptr<Engine>> Engine::Create(Options options, Clock* clock, CoreRunner* core) {
  if (clock == nullptr || core == nullptr) return InvalidArgument("the engine needs a clock and a core runner");
  auto broker = Broker::Create(BrokerOptionsFor(options.policy, options.broker), clock);
  if (!broker.ok()) return broker.status();
  std::unique_ptr<Engine> engine(new Engine(options, clock, core));
  engine->broker_ = std::move(broker).value();
  if (options.metrics) {
    const auto unix_now = std::chrono::duration_cast<Duration>(
        std::chrono::system_clock::now().time_since_epoch());
    engine->stats_ = std::make_unique<StatsRegistry>(1024, unix_now - engine->started_.time_since_epoch());
  }
  engine->models_ = std::make_unique<ModelManager>(ModelManager::Options{
      .context = {clock, core}, .sink = engine->broker_.get(), .stats = engine->stats_.get(),
      .policy = options.policy, .log = std::move(options.log)});
  return engine;
}

Status Engine::Submit(std::string_view instance, std::string_view task, TryRequest request, Broker::Done done) {
  ApplyPolicy(policy_, &request);
  TBMS_RETURN_IF_ERROR(broker_->Check(request));
  // Admission without the core: this try's place in transit plus what the
  // broker holds. The core gives the place back only after the broker has
  // counted the try, so readers over-count for an instant, never under-count.
  const size_t max = broker_->options().max_pending;
  if (in_transit_.fetch_add(1) + 1 + broker_->pending() > max) {
    in_transit_.fetch_sub(1);
    return ResourceExhausted("too many tries in flight (" + std::to_string(max) + ")");
  }
  core_->Post([this, instance = std::string(instance), task = std::string(task), request = std::move(request),
               done = std::move(done)]() mutable {
    if (broker_->pending() >= broker_->options().max_pending) {  // admitted above, so never; but never a lost try
      in_transit_.fetch_sub(1);
      TryResult none;
      none.reason = Reason::kError;
      return done(std::move(none));
    }
    if (stats_) request.stats = stats_->Task(instance, task, request);
    (void)broker_->Submit(std::move(request), std::move(done));  // checked and admitted: it takes it
    in_transit_.fetch_sub(1);
  });
  return OkStatus();
}

size_t Engine::pending() const { return broker_->pending() + in_transit_.load(); }

std::vector<Status> Engine::SampleGpus(const GpuTelemetry& gpus) {
  std::vector<Status> unread;
  if (stats_ == nullptr) return unread;
  for (DeviceStats* d : stats_->EditDevices()) {
    const int index = d->gpu_index.load(std::memory_order_relaxed);
    if (index < 0 || !d->in_house.load(std::memory_order_relaxed)) continue;
    const StatusOr<GpuReading> r = gpus.Read(index);
    if (!r.ok()) unread.push_back(Status(r.status().code(), d->name + ": " + r.status().message()));
    d->gpu_utilization.store(r.ok() ? r->utilization : -1, std::memory_order_relaxed);
    d->gpu_memory_used.store(r.ok() ? r->memory_used : 0, std::memory_order_relaxed);
    d->gpu_memory_total.store(r.ok() ? r->memory_total : 0, std::memory_order_relaxed);
  }
  return unread;
}

ReportContext Engine::ReportNow() const {
  ReportContext ctx;
  ctx.now = clock_->Now();
  ctx.wall = std::chrono::system_clock::now();
  ctx.uptime_s = std::chrono::duration<double>(ctx.now - started_).count();
  ctx.pending_tries = pending();
  ctx.core_lag = clock_->Lag();
  return ctx;
}

}  // namespace tbms
