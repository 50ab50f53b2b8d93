#include "tbms/server/house_loader.h"

#include <iostream>
#include <map>

namespace tbms {
namespace {
constexpr size_t kMaxJobs = 64;
constexpr auto kSweepEvery = std::chrono::milliseconds(100);
// What a scan found, in short: equal digests mean nothing to apply.
std::string Digest(const HouseScan& scan, const std::filesystem::path& dir) {
  std::string d;
  for (const ModelConfig& m : scan.config.models) {
    d += m.name + ':' + std::to_string(m.fingerprint);
    for (const VersionConfig& v : m.versions) d += ',' + std::to_string(v.number) + '=' + std::to_string(v.fingerprint);
    d += ';';
  }
  for (const HouseError& e : scan.errors) d += e.message + '\n';
  // Keys: a key file rewritten in place is a change too (hashed: the digest
  // holds no secret).
  auto key_digest = [&d](const AccessKey& k) { d += k.id + '=' + std::to_string(std::hash<std::string>()(k.secret)) + ';'; };
  for (const AccessKey& k : scan.config.admin_keys) key_digest(k);
  for (const InstanceConfig& i : scan.config.instances) {
    for (const AccessKey& k : i.keys) key_digest(k);
  }
  std::error_code ec;
  const auto instances = dir / "instances.toml";
  const auto size = std::filesystem::file_size(instances, ec);
  const auto mtime = std::filesystem::last_write_time(instances, ec);
  d += std::to_string(ec ? 0 : size) + '@' + std::to_string(ec ? 0 : mtime.time_since_epoch().count());
  return d;
}

// What a reload does about a house-wide file's errors, said before them.
std::string HouseWideEffect(HouseError::Source source, const HouseScan& scan) {
  switch (source) {
    case HouseError::Source::kFolder:
      return "tbms: reload: the house cannot be read, so every model, instance and key that served stays:";
    case HouseError::Source::kDevices:
      return "tbms: reload: devices.toml has errors (a model placed on a device it no longer declares keeps what "
             "served):";
    case HouseError::Source::kInstances:
    case HouseError::Source::kModel:
      break;
  }
  return scan.instances_read
             ? "tbms: reload: instances.toml has errors: the instances, keys and models it no longer grants stop "
               "serving; what it adds waits until it is fixed:"
             : "tbms: reload: instances.toml cannot be read, so the instances, tasks and keys that served stay:";
}

}  // namespace

StatusOr<ModelControl> ParseModelControl(std::string_view name) {
  if (name == "none") return ModelControl::kNone;
  if (name == "poll") return ModelControl::kPoll;
  if (name == "explicit") return ModelControl::kExplicit;
  return InvalidArgument("unknown model control '" + std::string(name) + "' (expected none, poll or explicit)");
}

HouseLoader::HouseLoader(Engine* engine, std::filesystem::path dir, ModelControl mode, Duration poll_interval,
                         const std::vector<HouseWarning>& logged)
    : engine_(engine), dir_(std::move(dir)), mode_(mode), poll_interval_(poll_interval) {
  for (const HouseWarning& w : logged) warned_.emplace(w.model, w.key);
  thread_ = std::thread([this] { Run(); });  // last: the thread reads warned_
}

void LogHouseWarnings(const std::vector<HouseWarning>& warnings) {
  for (const HouseWarning& w : warnings) std::cerr << "tbms: warning: " << w.message << std::endl;
}

void HouseLoader::LogNewWarnings(const HouseScan& scan, std::string_view model) {
  std::vector<HouseWarning> fresh;
  for (const HouseWarning& w : scan.warnings) {
    if ((model.empty() || w.model == model) && warned_.emplace(w.model, w.key).second) fresh.push_back(w);
  }
  LogHouseWarnings(fresh);
}

HouseLoader::~HouseLoader() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  wake_.SignalAll();
  thread_.join();
}

namespace {

Status NotExplicit() {
  return FailedPrecondition("models are loaded and unloaded on request only with --model-control explicit");
}

}  // namespace

void HouseLoader::Load(std::string model, Done done) {
  if (mode_ != ModelControl::kExplicit) return done(NotExplicit());
  Enqueue({[this, model = std::move(model)] { return LoadModel(model); }, std::move(done)});
}

void HouseLoader::Unload(std::string model, Done done) {
  if (mode_ != ModelControl::kExplicit) return done(NotExplicit());
  Enqueue({[this, model = std::move(model)] { return engine_->Unload(model); }, std::move(done)});
}

void HouseLoader::Admin(std::function<Status()> change, Done done) { Enqueue({std::move(change), std::move(done)}); }

void HouseLoader::Enqueue(Job job) {
  {
    MutexLock lock(&mu_);
    if (jobs_.size() < kMaxJobs) {
      jobs_.push_back(std::move(job));
      wake_.SignalAll();
      return;
    }
  }
  job.done(ResourceExhausted("too many load, unload and hot-plug requests waiting"));
}

Status HouseLoader::LoadModel(const std::string& model) {
  HouseScan scan = ScanHouse(dir_);
  bool known = false;
  for (const ModelConfig& m : scan.config.models) known = known || m.name == model;
  for (const HouseError& e : scan.errors) known = known || e.model == model;
  if (!known) return NotFound("the house has no model '" + model + "'");
  LogNewWarnings(scan, model);
  return engine_->Apply(scan, model, /*remove_missing=*/false);
}

// Applies the house as it is now, unless nothing changed since the last poll.
void HouseLoader::Poll() {
  const HouseScan scan = ScanHouse(dir_);
  std::string digest = Digest(scan, dir_);
  if (digest == last_digest_) return;
  last_digest_ = std::move(digest);
  LogNewWarnings(scan);
  (void)engine_->Apply(scan, {}, /*remove_missing=*/true);  // it logs what it loads, retires and fails
  std::set<std::string> house_errors;  // instances.toml's, devices.toml's and the house folder's: each logged once
  std::map<HouseError::Source, std::string> house_wide;  // the errors of each file: what the engine did, said once
  for (const HouseError& e : scan.errors) {
    if (!e.model.empty()) continue;
    house_errors.insert(e.message);
    if (logged_house_errors_.contains(e.message)) continue;
    if (e.names_model) {
      std::cerr << "tbms: reload: warning: " << e.message << " (its tries skip it)" << std::endl;
    } else {
      house_wide[e.source] += "\n  " + e.message;
    }
  }
  for (const auto& [source, errors] : house_wide) std::cerr << HouseWideEffect(source, scan) << errors << std::endl;
  logged_house_errors_ = std::move(house_errors);
}

void HouseLoader::Run() {
  auto next_poll = std::chrono::steady_clock::now() + poll_interval_;
  // Locked by hand, not by a scope: each job, poll and sweep drops mu_.
  mu_.Lock();
  while (!stop_) {
    const auto now = std::chrono::steady_clock::now();
    auto wake_at = mode_ == ModelControl::kPoll ? next_poll : now + std::chrono::hours(1);
    if (engine_->has_retired()) wake_at = std::min(wake_at, now + kSweepEvery);
    while (!stop_ && jobs_.empty()) {
      if (!wake_.WaitUntil(&mu_, wake_at)) break;
    }
    if (stop_) break;
    if (!jobs_.empty()) {
      Job job = std::move(jobs_.front());
      jobs_.pop_front();
      mu_.Unlock();
      job.done(job.work());
      mu_.Lock();
    } else if (mode_ == ModelControl::kPoll && std::chrono::steady_clock::now() >= next_poll) {
      mu_.Unlock();
      Poll();
      next_poll = std::chrono::steady_clock::now() + poll_interval_;
      mu_.Lock();
    }
    mu_.Unlock();
    engine_->Sweep();
    mu_.Lock();
  }
  mu_.Unlock();
}

}  // namespace tbms
