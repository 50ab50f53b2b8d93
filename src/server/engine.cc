#include "tbms/server/engine.h"

#include <boost/asio/post.hpp>

#include <algorithm>

#include "tbms/backends/registry.h"

namespace tbms {

// One model's outcome of a load, prepared off the core.
struct Engine::Loaded {
  std::shared_ptr<const ModelConfig> config;
  std::vector<std::shared_ptr<ModelVersion>> versions;  // what will serve, ascending
  std::vector<ModelState> failures;
  Status status;              // the first failure
  bool keep_current = false;  // nothing could be loaded: what served before stays
};

namespace {

std::string JoinReasons(const std::vector<ModelState>& failures) {
  std::string out;
  for (const ModelState& f : failures) out += (out.empty() ? "" : "; ") + f.reason;
  return out;
}

}  // namespace

Engine::Engine(boost::asio::any_io_executor executor)
    : executor_(executor), clock_(std::move(executor), &core_mu_) {
  table_.store(std::make_shared<const ModelTable>());
}

Engine::~Engine() {
  std::lock_guard lock(core_mu_);
  clock_.Stop();
  broker_.reset();
  table_.store(nullptr);
  retired_.clear();
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
  auto broker = Broker::Create(options.broker, &engine->clock_);
  if (!broker.ok()) return broker.status();
  engine->broker_ = std::move(broker).value();
  engine->started_ = engine->clock_.Now();
  if (options.metrics) {
    const auto unix_now = std::chrono::duration_cast<Duration>(
        std::chrono::system_clock::now().time_since_epoch());
    engine->stats_ = std::make_unique<StatsRegistry>(1024, unix_now - engine->started_.time_since_epoch());
  }
  return engine;
}

// Off the core: reuses unchanged versions, loads (and warms) the rest.
void Engine::LoadModel(const ModelConfig& config, const ServedModel* current, Loaded* out) {
  out->config = std::make_shared<const ModelConfig>(config);
  if (config.backend == "mix") return;
  for (const VersionConfig& vc : config.versions) {
    const uint64_t fingerprint = config.fingerprint ^ (vc.fingerprint * 0x9E3779B97F4A7C15ull);
    const std::string version = std::to_string(vc.number);
    std::shared_ptr<ModelVersion> reuse;
    for (const auto& v : current ? current->versions : std::vector<std::shared_ptr<ModelVersion>>{}) {
      if (v->version == version && v->fingerprint == fingerprint) reuse = v;
    }
    if (reuse) {
      out->versions.push_back(std::move(reuse));
      continue;
    }
    auto executor = LoadBackend(config, vc, &clock_, [this](std::function<void()> task) { PostToCore(std::move(task)); });
    if (!executor.ok()) {
      out->failures.push_back({config.name, version, "UNAVAILABLE", executor.status().message()});
      continue;
    }
    auto v = std::make_shared<ModelVersion>();
    v->name = config.name;
    v->version = version;
    v->config = out->config;
    v->fingerprint = fingerprint;
    v->executor = std::move(executor).value();
    out->versions.push_back(std::move(v));
  }
}

// A version that fails to reload keeps serving as it was loaded before.
void Engine::KeepFailedVersions(const ServedModel* current, Loaded* l) {
  if (current == nullptr) return;
  for (const ModelState& f : l->failures) {
    for (const auto& v : current->versions) {
      const bool have = std::any_of(l->versions.begin(), l->versions.end(),
                                    [&](const auto& w) { return w->version == v->version; });
      if (v->version == f.version && !have) l->versions.push_back(v);
    }
  }
  std::sort(l->versions.begin(), l->versions.end(),
            [](const auto& a, const auto& b) { return std::stoll(a->version) < std::stoll(b->version); });
}

// Under the core lock: gives fresh versions their batchers.
void Engine::Install(Loaded& loaded) {
  const bool baseline = policy_ == Policy::kSingle || policy_ == Policy::kDefaultOnMiss;
  for (auto it = loaded.versions.begin(); it != loaded.versions.end();) {
    ModelVersion& v = **it;
    if (v.batcher) {
      ++it;
      continue;
    }
    Batcher::Options options = loaded.config->batching;
    options.model = v.name;
    options.drop_only_expired = baseline;
    if (stats_) options.stats = stats_->AddModel(v.name, v.version, loaded.config->device, v.executor->instances());
    auto batcher = Batcher::Create(std::move(options), &clock_, v.executor.get(), broker_.get());
    if (!batcher.ok()) {
      loaded.failures.push_back({v.name, v.version, "UNAVAILABLE", batcher.status().message()});
      it = loaded.versions.erase(it);
      continue;
    }
    v.batcher = std::move(batcher).value();
    ++it;
  }
}

// Under the core lock: versions leaving the table are retired first, so the
// last reference to a version is never dropped outside the core.
void Engine::Swap(std::shared_ptr<const ModelTable> next, const ModelTable& current) {
  for (const auto& [name, model] : current.models) {
    const ServedModel* kept = next->Find(name);
    for (const auto& v : model.versions) {
      bool stays = false;
      for (const auto& w : kept ? kept->versions : std::vector<std::shared_ptr<ModelVersion>>{}) {
        stays = stays || w == v;
      }
      if (stays) continue;
      retired_.push_back(v);
      if (stats_) stats_->AddModel(v->name, v->version, v->config->device, 0);
    }
  }
  table_.store(std::move(next));
}

Status Engine::Apply(const HouseScan& scan, std::string_view only, bool remove_missing) {
  std::lock_guard load_lock(load_mu_);
  const std::shared_ptr<const ModelTable> current = table_.load();
  std::map<std::string, Loaded, std::less<>> loaded;
  std::map<std::string, std::vector<ModelState>, std::less<>> broken;  // model-wide errors
  bool instances_ok = true;
  for (const HouseError& e : scan.errors) {
    if (e.model.empty()) instances_ok = false;
    if (!only.empty() && e.model != only) continue;
    if (!e.model.empty()) {
      auto& list = e.version == 0 ? broken[e.model] : loaded[e.model].failures;
      list.push_back({e.model, e.version ? std::to_string(e.version) : "", "UNAVAILABLE", e.message});
    }
  }
  for (const ModelConfig& config : scan.config.models) {
    if (!only.empty() && config.name != only) continue;
    Loaded& l = loaded[config.name];
    LoadModel(config, current->Find(config.name), &l);
    KeepFailedVersions(current->Find(config.name), &l);
  }
  auto next = std::make_shared<ModelTable>();
  std::lock_guard core_lock(core_mu_);
  for (auto& [name, l] : loaded) {
    if (!l.config) continue;  // only version errors of a model in error: see `broken`
    Install(l);
    if (l.versions.empty() && l.config->backend != "mix") {
      l.status = FailedPrecondition("model '" + name + "': no version could be loaded: " + JoinReasons(l.failures));
      l.keep_current = current->Find(name) != nullptr;
    } else if (!l.failures.empty()) {
      l.status = FailedPrecondition("model '" + name + "': " + JoinReasons(l.failures));
    }
  }
  for (const auto& [name, model] : current->models) {  // what stays as it was
    const bool in_scope = only.empty() || name == only;
    auto it = loaded.find(name);
    const bool replaced = it != loaded.end() && it->second.config && !it->second.keep_current;
    const bool gone = in_scope && remove_missing && it == loaded.end() && broken.count(name) == 0;
    if (replaced || gone) continue;
    next->models[name].Assign(model.config, model.versions);
  }
  for (auto& [name, l] : loaded) {
    if (!l.config || l.keep_current) continue;
    if (l.config->backend != "mix" && l.versions.empty()) continue;
    next->models[name].Assign(l.config, l.versions);
  }
  next->access = instances_ok ? std::make_shared<const HouseAccess>(scan.config) : current->access;
  const Status result = RecordStates(loaded, broken, *next, *current);
  Swap(std::move(next), *current);
  return result;
}

// The repository index after a load: what serves is READY (with the reason
// when its reload failed), what failed and does not serve is UNAVAILABLE.
// Returns the first failure.
Status Engine::RecordStates(const std::map<std::string, Loaded, std::less<>>& loaded,
                            const std::map<std::string, std::vector<ModelState>, std::less<>>& broken,
                            const ModelTable& next, const ModelTable& current) {
  Status result;
  std::lock_guard lock(states_mu_);
  for (const auto& [name, l] : loaded) {
    std::vector<ModelState>& states = states_[name];
    states = l.failures;
    if (auto b = broken.find(name); b != broken.end()) states.insert(states.end(), b->second.begin(), b->second.end());
    if (!l.status.ok() && result.ok()) result = l.status;
  }
  for (const auto& [name, failures] : broken) {
    if (loaded.count(name) == 0) states_[name] = failures;
    if (result.ok()) result = FailedPrecondition(JoinReasons(states_[name]));
  }
  for (const auto& [name, model] : next.models) {
    std::vector<ModelState>& states = states_[name];
    const std::string kept = "the reload failed; serving what was loaded before";
    std::vector<std::string> versions;
    for (const auto& v : model.versions) versions.push_back(v->version);
    if (versions.empty()) versions.push_back("");  // a mix
    std::vector<ModelState> ready;
    for (const std::string& v : versions) {
      std::string reason = broken.count(name) ? kept : "";
      auto failed = std::find_if(states.begin(), states.end(), [&](const ModelState& s) { return s.version == v && !v.empty(); });
      if (failed != states.end()) {
        reason = "the reload failed (" + failed->reason + "); serving what was loaded before";
        states.erase(failed);
      }
      ready.push_back({name, v, "READY", reason});
    }
    states.insert(states.end(), ready.begin(), ready.end());
  }
  for (const auto& [name, model] : current.models) {
    if (next.Find(name) == nullptr) states_[name] = {{name, "", "UNAVAILABLE", "unloaded"}};
  }
  return result;
}

Status Engine::Unload(std::string_view model) {
  std::lock_guard load_lock(load_mu_);
  const std::shared_ptr<const ModelTable> current = table_.load();
  if (current->Find(model) == nullptr) return NotFound("model '" + std::string(model) + "' is not loaded");
  auto next = std::make_shared<ModelTable>();
  for (const auto& [name, m] : current->models) {
    if (name != model) next->models[name].Assign(m.config, m.versions);
  }
  next->access = current->access;
  {
    std::lock_guard states_lock(states_mu_);
    states_[std::string(model)] = {{std::string(model), "", "UNAVAILABLE", "unloaded"}};
  }
  std::lock_guard core_lock(core_mu_);
  Swap(std::move(next), *current);
  return OkStatus();
}

void Engine::Sweep() {
  std::lock_guard lock(core_mu_);
  std::erase_if(retired_, [](const std::shared_ptr<ModelVersion>& v) {
    // Only retired_ refers to it (no table, so no try), and no work is left.
    return v.use_count() == 1 && v->batcher->queued() == 0 && v->batcher->busy_instances() == 0;
  });
}

bool Engine::has_retired() const {
  std::lock_guard lock(core_mu_);
  return !retired_.empty();
}

std::vector<ModelState> Engine::states() const {
  std::lock_guard lock(states_mu_);
  std::vector<ModelState> out;
  for (const auto& [name, states] : states_) out.insert(out.end(), states.begin(), states.end());
  return out;
}

Status Engine::Submit(std::string_view instance, std::string_view task, TryRequest request,
                      Broker::Done done) {
  if (policy_ != Policy::kTbms && request.candidates.size() > 1) {  // baselines: top model only
    request.candidates.resize(1);
    request.members.resize(request.candidates[0].first + request.candidates[0].count);
  }
  std::lock_guard lock(core_mu_);
  if (stats_) request.stats = stats_->Task(instance, task, request);
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
