#include "tbms/server/model_manager.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>

#include "tbms/backends/registry.h"
#include "tbms/tune/profile.h"

namespace tbms {

// One model's outcome of a load, prepared off the core.
struct ModelManager::Loaded {
  std::shared_ptr<const ModelConfig> config;
  std::vector<std::shared_ptr<ModelVersion>> versions;  // what will serve, ascending
  std::vector<ModelState> failures;
  Status status;              // the first failure
  bool keep_current = false;  // nothing could be loaded: what served before stays
  std::vector<std::shared_ptr<ModelVersion>> discarded;  // loaded, but no batcher: destroyed off the core
};

namespace {

std::string JoinReasons(const std::vector<ModelState>& failures) {
  std::string out;
  for (const ModelState& f : failures) out += (out.empty() ? "" : "; ") + f.reason;
  return out;
}

// A model's instance groups, as its batcher places its executor's replicas
// (a house model has them; a simulated server's gets one on its device).
std::vector<ReplicaGroup> GroupsOf(const ModelConfig& config, int replicas) {
  std::vector<ReplicaGroup> groups = config.groups;
  if (groups.empty() && !ImplicitDevice(config.device, &groups.emplace_back().device)) {
    groups.back().device = {.name = config.device, .kind = config.is_remote() ? DeviceKind::kRemote : DeviceKind::kCpu};
  }
  if (groups.size() == 1) groups[0].count = replicas;  // a kserve model's: endpoints x in_flight
  return groups;
}

// On the core: a fresh version's batcher, and its online tuner with
// [batching] adaptive. On failure the version keeps neither. The time
// share of a group is split between the model's served versions.
Status AttachBatcher(ModelVersion& v, const ModelConfig& config, size_t versions, const ModelManager::Options& o,
                     const std::set<std::string, std::less<>>& down) {
  Batcher::Options options = BatcherOptionsFor(o.policy, config.batching);
  options.model = v.name;
  if (o.stats) options.stats = o.stats->AddModel(v.name, v.version);
  const std::vector<ReplicaGroup> groups = GroupsOf(config, v.executor->replicas());
  for (const ReplicaGroup& g : groups) {
    const double share = g.share / static_cast<double>(std::max<size_t>(1, versions));
    PlacementStats* placed = o.stats ? o.stats->AddPlacement(g.device.name, v.name, v.version) : nullptr;
    if (placed) placed->share.store(share, std::memory_order_relaxed);
    options.groups.push_back({.count = g.count, .stats = placed, .share = share});
  }
  auto batcher = Batcher::Create(std::move(options), o.context.clock, v.executor.get(), o.sink);
  if (!batcher.ok()) return batcher.status();
  for (size_t g = 0; g < groups.size(); ++g) {
    if (down.contains(groups[g].device.name)) (*batcher)->SetGroupUp(static_cast<int>(g), false);
  }
  if (config.adaptive_batching) {
    auto online = OnlineBatching::Create({.lag_target = config.lag_target, .max_batch_cap = config.batching.max_batch_size},
                                         batcher->get(), o.context.clock);
    if (!online.ok()) {  // the house checked what it needs: a lag target
      (*batcher)->Close();
      return online.status();
    }
    v.online = std::move(online).value();
  }
  v.batcher = std::move(batcher).value();
  return OkStatus();
}

// "sizes 1-8", or "40 sizes from 1 to 256" where the warm-up skips some.
std::string SizesRun(size_t sizes, size_t max_batch, const std::string& noun = "sizes") {
  if (sizes == max_batch) return noun + " 1-" + std::to_string(max_batch);
  return std::to_string(sizes) + " " + noun + " from 1 to " + std::to_string(max_batch);
}

// What the load log says of a version's [warmup].
std::string WarmedUp(const ModelVersion& v) {
  if (v.warmup_times.empty()) return "";
  size_t sizes = 0, batches = 0;
  for (const std::vector<Duration>& runs : v.warmup_times) {
    if (runs.empty()) continue;  // a size not run (WarmupSizes)
    ++sizes;
    batches += runs.size() + 1;
  }
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", ToMillis(v.warmup_took) / 1000);
  return ", warmed up on " + std::to_string(batches) + " batches (" + SizesRun(sizes, v.warmup_times.size()) + ") in " +
         took + " s";
}

// Off the core, before the version is installed: [warmup]'s batches on
// replica 0, posted to the core as a tuner's profile is; a simulated model's
// on a copy of it, on a virtual clock. A batch that takes longer than
// kWarmupBatchLimit, or a warm-up still running after kWarmupLimit (a slow
// model's 101 runs of each of up to 10 classes' sizes), fails the load.
constexpr Duration kWarmupBatchLimit = std::chrono::seconds(60);
constexpr int kWarmupLimitMinutes = 10;
constexpr Duration kWarmupLimit = std::chrono::minutes(kWarmupLimitMinutes);
constexpr auto kWarmupProgressEvery = std::chrono::seconds(10);  // a line in the load log while it runs
Status WarmUp(const ModelConfig& config, const VersionConfig& vc, Executor& executor, const ExecutorContext& context,
              const std::function<void(const std::string&)>& log, ModelVersion* v) {
  if (config.warmup.count == 0) return OkStatus();
  const ProfileOptions profile{.max_batch = config.batching.max_batch_size,
                               .repeats = config.warmup.count,
                               .question = config.warmup.question,
                               .sizes = WarmupSizes(config.batching.max_batch_size, config.warmup.count)};
  const auto began = std::chrono::steady_clock::now();
  auto said = began;
  const RunBatch run = RunOnCore(executor, *context.core, kWarmupBatchLimit);
  const RunBatch bounded = [&](const Batch& batch) -> StatusOr<Duration> {
    const auto now = std::chrono::steady_clock::now();
    if (now - began > kWarmupLimit) {
      return DeadlineExceeded("it ran over " + std::to_string(kWarmupLimitMinutes) +
                              " minutes (lower [warmup] count or [batching] max_batch_size)");
    }
    if (now - said >= kWarmupProgressEvery) {  // checked before every batch: a line at most every 10 s
      said = now;
      log("warming up model '" + config.name + "' version " + std::to_string(vc.number) + ": batch size " +
          std::to_string(batch.items.size()) + " of " + std::to_string(config.batching.max_batch_size) + ", " +
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(now - began).count()) + " s so far");
    }
    return run(batch);
  };
  auto times = config.is_simulated() ? ProfileSimulated(vc.simulated, profile) : ProfileBatchTimes(bounded, profile);
  if (!times.ok()) return FailedPrecondition("model '" + config.name + "' failed its warm-up: " + times.status().message());
  v->warmup_times = std::move(times).value();
  v->warmup_took = std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - began);
  return OkStatus();
}

}  // namespace

ModelManager::Options ModelManager::HearingDeviceFailures(Options options, ModelManager* manager) {
  options.context.device_failed = [manager](const std::string& device, const Status& why) {
    manager->DeviceFailed(device, why);
  };
  return options;
}

ModelManager::ModelManager(Options options) : options_(HearingDeviceFailures(std::move(options), this)) {
  table_.store(std::make_shared<const ModelTable>());
}

ModelManager::~ModelManager() { Close(); }

Status ModelManager::CheckOpen() const {
  if (closed_) return FailedPrecondition("the server is shutting down: its models are closed");
  return OkStatus();
}

// On the core, before a version is destroyed off it: its timers (the
// tuner's and the batcher's) belong to the core's clock, and its executor
// reports nothing after this.
void ModelManager::CloseOnCore(ModelVersion& v) {
  v.online.reset();
  v.batcher->Close();
}

// The core only stops hearing from the versions; they are destroyed here,
// where joining a replica's thread cannot be that thread joining itself (a
// replica thread may be the one running the core).
void ModelManager::Close() {
  MutexLock load_lock(&load_mu_);
  if (closed_) return;
  closed_ = true;
  std::vector<std::shared_ptr<ModelVersion>> versions;
  options_.context.core->RunAndWait([&] {
    for (const auto& [name, model] : table_.load()->models) {
      versions.insert(versions.end(), model.versions.begin(), model.versions.end());
    }
    versions.insert(versions.end(), retired_.begin(), retired_.end());
    retired_.clear();
    retired_count_.store(0, std::memory_order_relaxed);
    table_.store(std::make_shared<const ModelTable>());
    for (const auto& v : versions) CloseOnCore(*v);
    alive_->store(false);  // DeviceFailed's tasks queued behind this one find it gone
  });
  versions.clear();  // here: a batch still running finishes, unreported
}

// Off the core: reuses unchanged versions, loads (and warms) the rest.
void ModelManager::LoadModel(const ModelConfig& config, const ServedModel* current, Loaded* out) const {
  out->config = std::make_shared<const ModelConfig>(config);
  if (config.is_mix()) return;
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
    auto executor = LoadBackend(config, vc, options_.context);
    if (!executor.ok()) {
      out->failures.push_back({config.name, version, "UNAVAILABLE", executor.status().message()});
      continue;
    }
    auto v = std::make_shared<ModelVersion>();
    if (config.warmup.count > 0 && !config.is_simulated()) {  // a real model's warm-up takes real time
      const size_t sizes = WarmupSizes(config.batching.max_batch_size, config.warmup.count).size();
      Log({"warming up model '" + config.name + "' version " + version + ": " +
           SizesRun(sizes, static_cast<size_t>(config.batching.max_batch_size), "batch sizes") + ", " +
           std::to_string(config.warmup.count + 1) + " runs each"});
    }
    const auto log = [this](const std::string& line) { Log({line}); };
    if (Status s = WarmUp(config, vc, **executor, options_.context, log, v.get()); !s.ok()) {
      out->failures.push_back({config.name, version, "UNAVAILABLE", s.message()});
      continue;
    }
    v->name = config.name;
    v->version = version;
    v->config = out->config;
    v->fingerprint = fingerprint;
    v->executor = std::move(executor).value();
    out->versions.push_back(std::move(v));
  }
}

// A version that fails to reload keeps serving as it was loaded before.
void ModelManager::KeepFailedVersions(const ServedModel* current, Loaded* l) {
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

// On the core (the stats registry has one writer): gives fresh versions
// their batchers, with the service times learned by the version they
// replace (a reload, or a device that changed, does not forget them).
void ModelManager::Install(Loaded& loaded, const ServedModel* current, std::vector<std::string>* events) {
  for (auto it = loaded.versions.begin(); it != loaded.versions.end();) {
    ModelVersion& v = **it;
    if (v.batcher) {
      ++it;
      continue;
    }
    if (Status s = AttachBatcher(v, *loaded.config, loaded.versions.size(), options_, down_devices_); !s.ok()) {
      loaded.failures.push_back({v.name, v.version, "UNAVAILABLE", s.message()});
      loaded.discarded.push_back(std::move(*it));
      it = loaded.versions.erase(it);
      continue;
    }
    for (const auto& old : current ? current->versions : std::vector<std::shared_ptr<ModelVersion>>{}) {
      if (old->version == v.version) v.batcher->service_times() = old->batcher->service_times();
    }
    SeedBatchTimes(v.warmup_times, options_.context.clock->Now(), v.batcher->service_times());
    events->push_back("loaded model '" + v.name + "' version " + v.version + WarmedUp(v));
    v.warmup_times = {};  // in the service times now (up to 4096 sizes x 100 runs: not kept twice)
    ++it;
  }
  if (loaded.versions.empty() && !loaded.config->is_mix()) {
    loaded.status = FailedPrecondition("model '" + loaded.config->name +
                                       "': no version could be loaded: " + JoinReasons(loaded.failures));
  } else if (!loaded.failures.empty()) {
    loaded.status = FailedPrecondition("model '" + loaded.config->name + "': " + JoinReasons(loaded.failures));
  }
}

// What serves after the load: what stays as it was, and what was loaded.
std::shared_ptr<ModelTable> ModelManager::NextTable(LoadedModels& loaded, const Broken& broken,
                                                    const ModelTable& current, std::string_view only,
                                                    bool remove_missing) {
  auto next = std::make_shared<ModelTable>();
  for (const auto& [name, model] : current.models) {
    const bool in_scope = only.empty() || name == only;
    auto it = loaded.find(name);
    const bool replaced = it != loaded.end() && it->second.config && !it->second.keep_current;
    const bool gone = in_scope && remove_missing && it == loaded.end() && broken.count(name) == 0;
    if (replaced || gone) continue;
    next->models[name].Assign(model.config, model.versions);
  }
  for (auto& [name, l] : loaded) {
    if (!l.config || l.keep_current) continue;
    if (!l.config->is_mix() && l.versions.empty()) continue;
    next->models[name].Assign(l.config, l.versions);
  }
  return next;
}

// Who may call what after the load. instances.toml with errors of its own
// keeps only what it still grants (a key it deletes stops working whatever
// else is wrong); one that is not TOML at all keeps what served.
std::shared_ptr<const HouseAccess> ModelManager::NextAccess(const HouseScan& scan, bool instances_ok,
                                                            std::shared_ptr<const HouseAccess> served) {
  if (instances_ok) return std::make_shared<const HouseAccess>(scan.config);
  if (!scan.instances_read) return served;
  return std::make_shared<const HouseAccess>(HouseAccess::Narrowed(*served, scan.config));
}

// On the core: versions leaving the table are retired first, so the last
// reference to a version is never dropped by a try (see Sweep).
void ModelManager::Swap(std::shared_ptr<const ModelTable> next, const ModelTable& current,
                        std::vector<std::string>* events) {
  for (const auto& [name, model] : current.models) {
    const ServedModel* kept = next->Find(name);
    for (const auto& v : model.versions) {
      bool stays = false;
      for (const auto& w : kept ? kept->versions : std::vector<std::shared_ptr<ModelVersion>>{}) {
        stays = stays || w == v;
      }
      if (stays) continue;
      events->push_back("retired model '" + v->name + "' version " + v->version + " (its work in flight finishes)");
      retired_.push_back(v);
      const bool replaced = kept && std::any_of(kept->versions.begin(), kept->versions.end(),
                                                [&](const auto& w) { return w->version == v->version; });
      if (options_.stats && !replaced) {  // its placements report no replicas (a replacement has its own count)
        for (const ReplicaGroup& g : GroupsOf(*v->config, v->executor->replicas())) {
          if (PlacementStats* p = options_.stats->AddPlacement(g.device.name, v->name, v->version)) p->replicas.store(0);
        }
      }
    }
  }
  retired_count_.store(retired_.size(), std::memory_order_relaxed);
  table_.store(std::move(next));
}

// On the core: the report's devices — those of devices.toml and those
// models name the old way — with their capacity and the memory reserved.
void ModelManager::PublishDevices(const HouseConfig& house) {
  if (options_.stats == nullptr) return;
  std::map<std::string, DeviceConfig> devices;
  std::map<std::string, int64_t> reserved;
  for (const DeviceConfig& d : house.devices) devices[d.name] = d;
  for (const ModelConfig& m : house.models) {
    if (m.is_mix()) continue;
    for (const ReplicaGroup& g : GroupsOf(m, m.replicas)) {
      devices.try_emplace(g.device.name, g.device);
      reserved[g.device.name] += g.count * g.memory_mib;
    }
  }
  for (DeviceStats* d : options_.stats->EditDevices()) {
    auto it = devices.find(d->name);
    d->in_house.store(it != devices.end() && DeviceKindName(it->second.kind) == d->kind);
  }
  for (const auto& [name, d] : devices) {
    DeviceStats* stats = options_.stats->AddDevice(name, std::string(DeviceKindName(d.kind)));
    if (stats == nullptr) continue;
    stats->in_house.store(true);
    stats->capacity.store(d.capacity());
    stats->memory_mib.store(d.memory_mib);
    stats->gpu_index.store(d.kind == DeviceKind::kGpu ? d.gpu_index : -1);
    stats->reserved_mib.store(reserved[name]);
    stats->up.store(!down_devices_.contains(name));
  }
}

Status ModelManager::Apply(const HouseScan& scan, std::string_view only, bool remove_missing) {
  MutexLock load_lock(&load_mu_);
  TBMS_RETURN_IF_ERROR(CheckOpen());
  if (!scan.folder_read) {  // nothing is known of the house: what serves is not "gone"
    return FailedPrecondition((scan.errors.empty() ? "the house cannot be read" : scan.errors.front().message) +
                              " (what served before keeps serving)");
  }
  const std::shared_ptr<const ModelTable> current = table_.load();
  LoadedModels loaded;
  Broken broken;  // model-wide errors
  bool instances_ok = true;
  for (const HouseError& e : scan.errors) {
    if (e.source == HouseError::Source::kInstances && !e.names_model) instances_ok = false;
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
  Status result;
  std::vector<std::string> events;  // logged after the swap, off the core
  options_.context.core->RunAndWait([&] {
    for (auto& [name, l] : loaded) {
      if (!l.config) continue;  // only version errors of a model in error: see `broken`
      Install(l, current->Find(name), &events);
      l.keep_current = l.versions.empty() && !l.config->is_mix() && current->Find(name) != nullptr;
    }
    std::shared_ptr<ModelTable> next = NextTable(loaded, broken, *current, only, remove_missing);
    next->access = NextAccess(scan, instances_ok, current->access);
    result = RecordStates(loaded, broken, *next, *current, &events);
    Swap(std::move(next), *current, &events);
    PublishDevices(scan.config);
  });
  devices_ = scan.config.devices;
  Log(events);
  return result;  // `loaded` drops its references here, off the core
}

// The repository index after a load: what serves is READY (with the reason
// when its reload failed), what failed and does not serve is UNAVAILABLE, and
// so is a mix with a member that does not serve. Every name known and not
// serving goes to next.unserved. Returns the first failure.
Status ModelManager::RecordStates(const LoadedModels& loaded, const Broken& broken, ModelTable& next,
                                  const ModelTable& current, std::vector<std::string>* events) {
  Status result;
  MutexLock lock(&states_mu_);
  const auto before = states_;
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
    const bool touched = loaded.count(name) > 0 || broken.count(name) > 0;
    if (!touched && !model.is_mix()) continue;  // not part of this load (an explicit load of another): as it was
    std::vector<ModelState>& states = states_[name];
    if (!touched) states.clear();  // a mix is judged again: its members may have changed
    const std::string kept = "the reload failed; serving what was loaded before";
    std::vector<std::string> versions;
    for (const auto& v : model.versions) versions.push_back(v->version);
    if (versions.empty()) versions.push_back("");  // a mix
    std::vector<ModelState> ready;
    if (model.is_mix()) {
      if (std::string_view missing = next.MissingMember(model); !missing.empty()) {
        states = {{name, "", "UNAVAILABLE", "member '" + std::string(missing) + "' is not served"}};
        continue;
      }
    }
    for (const std::string& v : versions) {
      std::string reason = broken.count(name) ? kept : "";
      auto failed = std::find_if(states.begin(), states.end(), [&](const ModelState& s) {
        return s.version == v && !v.empty() && s.state != "READY";
      });
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
  for (const auto& [name, states] : states_) {
    if (next.Find(name) == nullptr) next.unserved.insert(name);
    LogNewFailures(name, states, before, events);
  }
  return result;
}

// A state with a reason that `before` did not have: each failure is logged
// once, not at every reload that still finds it.
void ModelManager::LogNewFailures(const std::string& name, const std::vector<ModelState>& states,
                                  const std::map<std::string, std::vector<ModelState>>& before,
                                  std::vector<std::string>* events) {
  const auto old = before.find(name);
  for (const ModelState& s : states) {
    if (s.reason.empty() || s.reason == "unloaded") continue;
    const bool seen = old != before.end() && std::any_of(old->second.begin(), old->second.end(), [&](const ModelState& o) {
      return o.version == s.version && o.state == s.state && o.reason == s.reason;
    });
    if (seen) continue;
    events->push_back("model '" + name + "'" + (s.version.empty() ? "" : " version " + s.version) + " " + s.state +
                      ": " + s.reason);
  }
}

void ModelManager::Log(const std::vector<std::string>& events) const {
  if (!options_.log) return;
  for (const std::string& e : events) options_.log(e);
}

Status ModelManager::Unload(std::string_view model) {
  MutexLock load_lock(&load_mu_);
  TBMS_RETURN_IF_ERROR(CheckOpen());
  const std::shared_ptr<const ModelTable> current = table_.load();
  if (current->Find(model) == nullptr) return NotFound("model '" + std::string(model) + "' is not loaded");
  auto next = std::make_shared<ModelTable>();
  for (const auto& [name, m] : current->models) {
    if (name != model) next->models[name].Assign(m.config, m.versions);
  }
  next->access = current->access;
  next->unserved = current->unserved;
  next->unserved.emplace(model);
  {
    MutexLock states_lock(&states_mu_);
    states_[std::string(model)] = {{std::string(model), "", "UNAVAILABLE", "unloaded"}};
  }
  std::vector<std::string> events;
  options_.context.core->RunAndWait([&] { Swap(std::move(next), *current, &events); });
  Log(events);
  return OkStatus();
}

Status ModelManager::SetReplicas(std::string_view model, int count) {
  MutexLock load_lock(&load_mu_);
  TBMS_RETURN_IF_ERROR(CheckOpen());
  const std::shared_ptr<const ModelTable> table = table_.load();
  const ServedModel* served = table->Find(model);
  if (served == nullptr) return NotFound("model '" + std::string(model) + "' is not loaded");
  if (served->is_mix()) return InvalidArgument("'" + std::string(model) + "' is a mix: its members have replicas");
  Status result;
  options_.context.core->RunAndWait([&] {
    for (const auto& v : served->versions) {
      Status s = v->batcher->SetReplicas(count);
      if (!s.ok() && result.ok()) result = s;
    }
  });
  return result;
}

Status ModelManager::SetDeviceUp(std::string_view device, bool up) {
  MutexLock load_lock(&load_mu_);
  TBMS_RETURN_IF_ERROR(CheckOpen());
  const std::shared_ptr<const ModelTable> table = table_.load();
  bool known = std::any_of(devices_.begin(), devices_.end(), [&](const DeviceConfig& d) { return d.name == device; });
  for (const auto& [name, model] : table->models) {
    if (model.is_mix()) continue;
    for (const ReplicaGroup& g : GroupsOf(*model.config, model.config->replicas)) known = known || g.device.name == device;
  }
  if (!known) return NotFound("device '" + std::string(device) + "' is not in the house");
  std::vector<std::string> events{"device '" + std::string(device) + "' " +
                                  (up ? "is back: its replicas serve again" : "drained: its replicas take no batches")};
  options_.context.core->RunAndWait([&] {
    if (up) {  // on the core, in order with the failures' tasks (see DeviceFailed)
      MutexLock lock(&failed_mu_);
      failed_.erase(std::string(device));
    }
    MarkDevice(device, up);
  });
  Log(events);
  return OkStatus();
}

void ModelManager::MarkDevice(std::string_view device, bool up) {
  if (up) {
    down_devices_.erase(std::string(device));
  } else {
    down_devices_.emplace(device);
  }
  auto mark = [&](ModelVersion& v) {
    const std::vector<ReplicaGroup> groups = GroupsOf(*v.config, v.executor->replicas());
    for (size_t g = 0; g < groups.size(); ++g) {
      if (groups[g].device.name == device) v.batcher->SetGroupUp(static_cast<int>(g), up);
    }
  };
  for (const auto& [name, model] : table_.load()->models) {
    for (const auto& v : model.versions) mark(*v);
  }
  for (const auto& v : retired_) mark(*v);  // their work in flight runs where the devices say too
  if (options_.stats) {
    for (DeviceStats* d : options_.stats->EditDevices()) {
      if (d->name == device) d->up.store(up);
    }
  }
}

// On a replica's thread: said once, and drained as SetDeviceUp would, but
// posted to the core rather than waited for (a reload may be joining this
// very thread under load_mu_).
void ModelManager::DeviceFailed(const std::string& device, const Status& why) {
  {
    MutexLock lock(&failed_mu_);
    if (!failed_.insert(device).second) return;  // drained already, until it is resumed
  }
  Log({"device '" + device + "' failed (" + why.message() + "): drained, its tries go to their next candidates; "
       "POST /v1/devices/" + device + "/resume once it is fixed"});
  // Heard while the manager goes (a replica's last batch, at the engine's
  // end), the task would run after it: it checks the manager is still there.
  // A resume that came between the failure and its task wins: said later.
  options_.context.core->Post([this, alive = alive_, device] {
    if (!alive->load()) return;
    {
      MutexLock lock(&failed_mu_);
      if (!failed_.contains(device)) return;
    }
    MarkDevice(device, false);
  });
}

std::vector<std::string> ModelManager::down_devices() const {
  MutexLock load_lock(&load_mu_);
  std::vector<std::string> out;
  options_.context.core->RunAndWait([&] { out.assign(down_devices_.begin(), down_devices_.end()); });
  return out;
}

void ModelManager::Sweep() {
  MutexLock load_lock(&load_mu_);
  if (closed_ || !has_retired()) return;
  std::vector<std::shared_ptr<ModelVersion>> done;
  options_.context.core->RunAndWait([&] {
    for (auto it = retired_.begin(); it != retired_.end();) {
      ModelVersion& v = **it;
      // Only retired_ refers to it (no table, so no try), and no work is left.
      if (it->use_count() == 1 && v.batcher->queued() == 0 && v.batcher->busy_replicas() == 0) {
        CloseOnCore(v);
        done.push_back(std::move(*it));
        it = retired_.erase(it);
      } else {
        ++it;
      }
    }
    retired_count_.store(retired_.size(), std::memory_order_relaxed);
  });
  std::vector<std::string> events;
  for (const auto& v : done) events.push_back("released model '" + v->name + "' version " + v->version);
  done.clear();  // here: executors join their threads, models free their memory
  Log(events);
}

std::vector<ModelState> ModelManager::states() const {
  MutexLock lock(&states_mu_);
  std::vector<ModelState> out;
  for (const auto& [name, states] : states_) out.insert(out.end(), states.begin(), states.end());
  return out;
}

}  // namespace tbms
