#include "tbms/server/model_table.h"

#include <algorithm>
#include <numeric>

#include "tbms/broker/limits.h"
#include "tbms/common/json_fields.h"

namespace tbms {
void ServedModel::Assign(std::shared_ptr<const ModelConfig> c, std::vector<std::shared_ptr<ModelVersion>> v) {
  config = std::move(c);
  versions = std::move(v);
  cumulative_weights.clear();
  int64_t sum = 0;
  for (size_t i = 0; i < versions.size(); ++i) {
    if (config->weights.empty()) {
      sum += i + 1 == versions.size() ? 1 : 0;  // no split: the latest takes all
    } else {
      auto it = config->weights.find(std::stoll(versions[i]->version));
      sum += it == config->weights.end() ? 0 : it->second;
    }
    cumulative_weights.push_back(sum);
  }
  // Stepping by a stride coprime with the sum visits every slot once per
  // `sum` calls: exact proportions, versions interleaved.
  stride = 7919;  // prime
  while (sum > 0 && std::gcd(stride, sum) != 1) stride += 2;
}

StatusOr<const ModelVersion*> ServedModel::Route(std::string_view pinned) const {
  if (versions.empty()) return Unavailable("model " + Quote(config->name) + " has no version loaded");
  if (!pinned.empty()) {
    for (const auto& v : versions) {
      if (v->version == pinned) return v.get();
    }
    return NotFound("model " + Quote(config->name) + " has no version " + Quote(pinned) + " loaded");
  }
  const int64_t total = cumulative_weights.back();
  if (versions.size() == 1 || total <= 0) return versions.back().get();
  const uint64_t n = routed.fetch_add(1, std::memory_order_relaxed) % static_cast<uint64_t>(total);
  // Weights are at most 1e6 each for at most 64 versions: n * stride fits.
  const auto slot = static_cast<int64_t>(n * static_cast<uint64_t>(stride) % static_cast<uint64_t>(total));
  const auto it = std::upper_bound(cumulative_weights.begin(), cumulative_weights.end(), slot);
  return versions[static_cast<size_t>(it - cumulative_weights.begin())].get();
}

const ServedModel* ModelTable::Find(std::string_view name) const {
  auto it = models.find(name);
  return it == models.end() ? nullptr : &it->second;
}

HouseAccess::HouseAccess(const HouseConfig& house)
    : instances(house.instances), declared(!house.instances.empty()) {
  for (const AccessKey& k : house.admin_keys) keys.emplace(k.id, k);
  for (const InstanceConfig& i : house.instances) {
    for (const AccessKey& k : i.keys) keys.emplace(k.id, k);
  }
}

namespace {

bool SameKey(const AccessKey& a, const AccessKey& b) { return a.id == b.id && a.secret == b.secret; }

// `served`'s keys that `read` still has.
std::vector<AccessKey> KeptKeys(const std::vector<AccessKey>& served, const std::vector<AccessKey>& read) {
  std::vector<AccessKey> kept;
  for (const AccessKey& k : served) {
    if (std::any_of(read.begin(), read.end(), [&](const AccessKey& r) { return SameKey(k, r); })) kept.push_back(k);
  }
  return kept;
}

// The narrower of two allow-lists (empty: every model).
std::vector<std::string> NarrowerModels(const std::vector<std::string>& served, const std::vector<std::string>& read) {
  if (served.empty()) return read;
  if (read.empty()) return served;
  std::vector<std::string> both;
  for (const std::string& m : served) {
    if (std::find(read.begin(), read.end(), m) != read.end()) both.push_back(m);
  }
  if (both.empty()) both.push_back("");  // nothing left in common: no model (no name is empty)
  return both;
}

}  // namespace

HouseAccess HouseAccess::Narrowed(const HouseAccess& served, const HouseConfig& read) {
  HouseConfig narrowed;
  std::vector<AccessKey> served_admin;
  for (const auto& [id, k] : served.keys) {
    if (k.admin()) served_admin.push_back(k);
  }
  narrowed.admin_keys = KeptKeys(served_admin, read.admin_keys);
  for (const InstanceConfig& old : served.instances) {
    auto now = std::find_if(read.instances.begin(), read.instances.end(),
                            [&](const InstanceConfig& i) { return i.name == old.name; });
    if (now == read.instances.end()) continue;  // removed
    InstanceConfig& kept = narrowed.instances.emplace_back(old);
    kept.keys = KeptKeys(old.keys, now->keys);
    kept.models = NarrowerModels(old.models, now->models);
  }
  HouseAccess access(narrowed);
  access.declared = served.declared;
  return access;
}

StatusOr<const InstanceConfig*> ModelTable::FindInstance(std::string_view instance) const {
  if (!access->declared) return static_cast<const InstanceConfig*>(nullptr);
  for (const InstanceConfig& i : access->instances) {
    if (i.name == instance) return &i;
  }
  return NotFound("unknown instance " + Quote(instance));
}

Status CheckAllowed(const InstanceConfig* instance, std::string_view model) {
  if (instance == nullptr || instance->Allows(model)) return OkStatus();
  return PermissionDenied("instance " + Quote(instance->name) + " may not use model " + Quote(model) +
                          " (not among its models in instances.toml)");
}

std::vector<std::string> ModelTable::WithMembers(const std::vector<std::string>& names) const {
  std::vector<std::string> out;
  std::vector<std::string> todo(names.rbegin(), names.rend());
  while (!todo.empty()) {  // house mixes have no cycles (the house check refuses them)
    std::string name = std::move(todo.back());
    todo.pop_back();
    if (std::find(out.begin(), out.end(), name) != out.end()) continue;
    if (const ServedModel* m = Find(name); m != nullptr && m->is_mix()) {
      todo.insert(todo.end(), m->config->members.rbegin(), m->config->members.rend());
    }
    out.push_back(std::move(name));
  }
  return out;
}

StatusOr<const TaskConfig*> ModelTable::FindTask(std::string_view instance, std::string_view task) const {
  for (const InstanceConfig& i : access->instances) {
    if (i.name != instance) continue;
    auto it = i.tasks.find(task);
    if (it != i.tasks.end()) return &it->second;
  }
  return NotFound("instance " + Quote(instance) + " has no task " + Quote(task));
}

namespace {

// The queue of a model that does not serve: it takes nothing, at once.
class NotServedQueue final : public ModelQueue {
 public:
  StatusOr<ItemId> Enqueue(WorkItem) override { return Unavailable("the model is not served"); }
  bool Cancel(const ItemId&) override { return false; }
  LatencyEstimate Predict(int, Duration) const override { return {}; }
};

ModelQueue* NotServed() {
  static NotServedQueue queue;  // stateless
  return &queue;
}

}  // namespace

std::string_view ModelTable::MissingMember(const ServedModel& mix) const {
  for (const std::string& name : mix.config->members) {
    const ServedModel* member = Find(name);
    if (member == nullptr) return name;
    if (member->is_mix()) {  // house mixes have no cycles (the house check refuses them)
      if (std::string_view missing = MissingMember(*member); !missing.empty()) return missing;
    }
  }
  return {};
}

namespace {

std::string TooManyMixModels() {
  return "a mix runs more than " + std::to_string(limits::kMaxMixModels) + " models in all";
}

}  // namespace

Status ModelTable::Expand(const ServedModel& model, std::string_view version, std::optional<Duration> est,
                          int depth, std::vector<Member>* members, std::vector<MixStep>* steps,
                          std::string_view* version_out) const {
  if (!model.is_mix()) {
    StatusOr<const ModelVersion*> v = model.Route(version);
    if (!v.ok()) return v.status();
    if (members->size() >= limits::kMaxMixModels) return InvalidArgument(TooManyMixModels());
    steps->push_back(MixStep{MixStep::kMember, Aggregator::kMax, static_cast<uint16_t>(members->size())});
    members->push_back(Member{(*v)->batcher.get(), est.value_or(model.config->est), &model.config->input_limits});
    *version_out = (*v)->version;
    return OkStatus();
  }
  if (!version.empty()) return InvalidArgument("mix " + Quote(model.config->name) + " has no versions");
  // Depth 0 is a house mix asked for by name, 1 a house mix in a try's own mix.
  if (depth > limits::kMaxMixDepth) {
    return InvalidArgument("mixes nest more than " + std::to_string(limits::kMaxMixDepth) + " deep");
  }
  for (const std::string& name : model.config->members) {
    const ServedModel* member = Find(name);
    if (member == nullptr) {  // the whole mix is unavailable: its launch fails at this member
      if (members->size() >= limits::kMaxMixModels) return InvalidArgument(TooManyMixModels());
      steps->push_back(MixStep{MixStep::kMember, Aggregator::kMax, static_cast<uint16_t>(members->size())});
      members->push_back(Member{NotServed(), Duration(0)});
      continue;
    }
    std::string_view ignored;
    TBMS_RETURN_IF_ERROR(Expand(*member, {}, est, depth + 1, members, steps, &ignored));
  }
  steps->push_back(MixStep{MixStep::kCombine, model.config->aggregator,
                           static_cast<uint16_t>(model.config->members.size())});
  return OkStatus();
}

Status ModelTable::AddCandidate(std::string_view name, std::string_view version, std::optional<Duration> est,
                                TryRequest* request) const {
  const ServedModel* model = Find(name);
  if (model == nullptr) {
    auto gone = unserved.find(name);
    if (gone == unserved.end()) return NotFound("unknown model " + Quote(name));
    request->AddModel(*gone, NotServed(), Duration(0));
    return OkStatus();
  }
  if (!model->is_mix()) {  // the common case, straight into the request: no lists to build
    StatusOr<const ModelVersion*> v = model->Route(version);
    if (!v.ok()) return v.status();
    request->AddModel(model->config->name, (*v)->batcher.get(), est.value_or(model->config->est), (*v)->version,
                      &model->config->input_limits);
    return OkStatus();
  }
  std::vector<Member> members;
  std::vector<MixStep> steps;
  std::string_view routed;
  TBMS_RETURN_IF_ERROR(Expand(*model, version, est, 0, &members, &steps, &routed));
  request->AddMix(model->config->name, members, steps);
  return OkStatus();
}

Status ModelTable::AddMix(std::string_view name, const std::vector<MixMember>& mix, Aggregator aggregator,
                          TryRequest* request) const {
  std::vector<Member> members;
  std::vector<MixStep> steps;
  for (const MixMember& m : mix) {
    const ServedModel* model = Find(m.name);
    if (model == nullptr) {
      if (!unserved.contains(m.name)) return NotFound("unknown model " + Quote(m.name));
      members.push_back(Member{NotServed(), Duration(0)});  // the mix is unavailable
      steps.push_back(MixStep{MixStep::kMember, Aggregator::kMax, static_cast<uint16_t>(members.size() - 1)});
      continue;
    }
    std::string_view ignored;
    TBMS_RETURN_IF_ERROR(Expand(*model, m.version, m.est, 1, &members, &steps, &ignored));
  }
  steps.push_back(MixStep{MixStep::kCombine, aggregator, static_cast<uint16_t>(mix.size())});
  request->AddMix(name, members, steps);
  return OkStatus();
}

}  // namespace tbms
