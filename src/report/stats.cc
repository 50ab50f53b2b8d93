#include "tbms/report/stats.h"

#include "tbms/common/names.h"

namespace tbms {
namespace {
constexpr auto kRelaxed = std::memory_order_relaxed;

int64_t SecondOf(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

void SecondRing::Add(TimePoint now, double count, double sum) {
  const int64_t second = SecondOf(now);
  Slot& slot = slots_[static_cast<size_t>(second % kSeconds)];
  if (slot.second.load(kRelaxed) != second) {
    slot.count.store(0, kRelaxed);
    slot.sum.store(0, kRelaxed);
    slot.second.store(second, kRelaxed);
  }
  AddRelaxed<double>(slot.count, count);
  AddRelaxed<double>(slot.sum, sum);
}

std::vector<SecondRing::Point> SecondRing::Read(TimePoint now, int seconds) const {
  const int64_t last = SecondOf(now) - 1;  // the current second is still filling
  std::vector<Point> out;
  for (int64_t s = last - std::min(seconds, kSeconds - 1) + 1; s <= last; ++s) {
    if (s < 0) continue;
    const Slot& slot = slots_[static_cast<size_t>(s % kSeconds)];
    if (slot.second.load(kRelaxed) == s) {
      out.push_back({s, slot.count.load(kRelaxed), slot.sum.load(kRelaxed)});
    } else {
      out.push_back({s, 0, 0});
    }
  }
  return out;
}

TaskStats::TaskStats(std::string instance_name, std::string task_name,
                     std::vector<std::string> model_names, SecondRing* all, Duration offset)
    : instance(std::move(instance_name)),
      task(std::move(task_name)),
      models(std::move(model_names)),
      all_tries(all),
      wall_offset(offset),
      answered(new std::atomic<uint64_t>[models.size()]) {
  for (size_t i = 0; i < models.size(); ++i) answered[i].store(0, kRelaxed);
}

void TaskStats::Record(const TryResult& r, TimePoint now) {
  const double lag_s = std::chrono::duration<double>(r.elapsed).count();
  AddRelaxed<uint64_t>(tries, 1);
  if (r.answer) {
    // "other" has no candidate list: it counts downgrades but not ranks.
    if (r.rank >= 0 && !models.empty()) CountAnswer(r.model, r.rank);
    if (r.downgraded) AddRelaxed<uint64_t>(downgrades[static_cast<size_t>(r.reason)], 1);
  } else {
    AddRelaxed<uint64_t>(no_answer[static_cast<size_t>(r.reason)], 1);
  }
  int launched = 0;
  for (const AttemptReport& a : r.attempts) launched += a.state != AttemptState::kSkipped;
  if (launched > 1) AddRelaxed<uint64_t>(extra_attempts, static_cast<uint64_t>(launched - 1));
  lag.Observe(lag_s);
  if (r.top_budget_use >= 0) top_budget_use.Observe(r.top_budget_use);
  const int64_t id = (now.time_since_epoch() + wall_offset) / kWindow;  // wall-clock aligned
  Window& w = windows[static_cast<size_t>(id % kWindows)];
  if (w.id.load(kRelaxed) != id) {
    w.lag.Reset();
    w.id.store(id, kRelaxed);
  }
  w.lag.Observe(lag_s);
  all_tries->Add(now, 1, lag_s);
}

void TaskStats::CountAnswer(std::string_view model, int rank) {
  if (static_cast<size_t>(rank) < models.size() && models[static_cast<size_t>(rank)] == model) {
    return AddRelaxed<uint64_t>(answered[rank], 1);
  }
  const size_t used = later_used_.load(std::memory_order_relaxed);  // the writer's own
  for (size_t i = 0; i < used; ++i) {
    if (later_[i].rank == rank && later_[i].model == model) return AddRelaxed<uint64_t>(later_[i].count, 1);
  }
  if (used == kMaxLaterAnswers) return;
  if (later_ == nullptr) later_ = std::make_unique<LaterAnswer[]>(kMaxLaterAnswers);
  later_[used].model = model;
  later_[used].rank = rank;
  later_[used].count.store(1, kRelaxed);
  later_used_.store(used + 1, std::memory_order_release);  // readers see it whole
}

ModelStats::ModelStats(std::string m, std::string v) : model(std::move(m)), version(std::move(v)) {}

PlacementStats::PlacementStats(std::string d, std::string m, std::string v)
    : device(std::move(d)), model(std::move(m)), version(std::move(v)) {}

DeviceStats::DeviceStats(std::string n, std::string k) : name(std::move(n)), kind(std::move(k)) {}

TaskStats* StatsRegistry::Task(std::string_view instance, std::string_view task,
                               const TryRequest& request) {
  thread_local std::string key;  // "instance\ntask", reused: no allocation once warm
  key.assign(instance);
  key += '\n';
  const size_t task_at = key.size();
  key += task;
  for (size_t c = 0; task.empty() && c < request.candidates.size(); ++c) {
    if (c) key += '>';
    key += request.candidates[c].name;
  }
  if (TaskStats* found = FindTask(key)) return found;

  MutexLock lock(&mu_);
  if (tasks_.size() >= max_tasks_) {
    if (other_ == nullptr) {
      other_ = std::make_unique<TaskStats>(std::string(kOverflowRow), std::string(kOverflowRow), std::vector<std::string>{}, &all_tries_,
                                           wall_offset_);
    }
    return other_.get();
  }
  size_t& rows = rows_[key.substr(0, task_at - 1)];
  if (rows >= max_tasks_per_instance_) {  // the instance's own "other" row: "instance\n" (no task is empty)
    key.resize(task_at);
    auto [it, added] = tasks_.try_emplace(key);
    if (added) {
      it->second = std::make_unique<TaskStats>(std::string(instance), std::string(kOverflowRow), std::vector<std::string>{},
                                               &all_tries_, wall_offset_);
    }
    return it->second.get();
  }
  ++rows;
  std::vector<std::string> models;
  for (const Candidate& c : request.candidates) models.emplace_back(c.name);
  auto stats = std::make_unique<TaskStats>(std::string(instance), key.substr(task_at),
                                           std::move(models), &all_tries_, wall_offset_);
  TaskStats* raw = stats.get();
  tasks_.emplace(key, std::move(stats));
  return raw;
}

namespace {

// The entry of `rows` that `same` picks, or a new one (nullptr past `max`).
template <class T, class Same, class... Args>
T* FindOrAdd(std::vector<std::unique_ptr<T>>& rows, size_t max, const Same& same, Args&&... args) {
  for (const auto& r : rows) {
    if (same(*r)) return r.get();
  }
  if (rows.size() >= max) return nullptr;
  rows.push_back(std::make_unique<T>(std::forward<Args>(args)...));
  return rows.back().get();
}

template <class Out, class T>
std::vector<Out*> Pointers(const std::vector<std::unique_ptr<T>>& rows) {
  std::vector<Out*> out;
  for (const auto& r : rows) out.push_back(r.get());
  return out;
}

}  // namespace

ModelStats* StatsRegistry::AddModel(std::string model, std::string version) {
  MutexLock lock(&mu_);
  return FindOrAdd(models_, kMaxModels, [&](const ModelStats& m) { return m.model == model && m.version == version; },
                   std::move(model), std::move(version));
}

PlacementStats* StatsRegistry::AddPlacement(std::string device, std::string model, std::string version) {
  MutexLock lock(&mu_);
  auto same = [&](const PlacementStats& p) { return p.device == device && p.model == model && p.version == version; };
  return FindOrAdd(placements_, kMaxModels, same, std::move(device), std::move(model), std::move(version));
}

DeviceStats* StatsRegistry::AddDevice(std::string name, std::string kind) {
  MutexLock lock(&mu_);
  return FindOrAdd(devices_, kMaxDevices, [&](const DeviceStats& d) { return d.name == name && d.kind == kind; },
                   std::move(name), std::move(kind));
}

TaskStats* StatsRegistry::FindTask(const std::string& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? nullptr : it->second.get();
}

std::vector<const TaskStats*> StatsRegistry::tasks() const {
  MutexLock lock(&mu_);
  std::vector<const TaskStats*> out;
  for (const auto& [key, stats] : tasks_) out.push_back(stats.get());
  if (other_) out.push_back(other_.get());
  return out;
}

std::vector<const ModelStats*> StatsRegistry::models() const {
  MutexLock lock(&mu_);
  return Pointers<const ModelStats>(models_);
}

std::vector<const PlacementStats*> StatsRegistry::placements() const {
  MutexLock lock(&mu_);
  return Pointers<const PlacementStats>(placements_);
}

std::vector<DeviceStats*> StatsRegistry::EditDevices() {
  MutexLock lock(&mu_);
  return Pointers<DeviceStats>(devices_);
}

std::vector<const DeviceStats*> StatsRegistry::devices() const {
  MutexLock lock(&mu_);
  return Pointers<const DeviceStats>(devices_);
}

}  // namespace tbms
