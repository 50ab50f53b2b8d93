#include "tbms/server/model_table.h"

#include <algorithm>
#include <numeric>

#include "tbms/server/json_fields.h"

namespace tbms {
namespace {
constexpr int kMaxMixDepth = 16;  // the house check rejects cycles; this bounds the rest
constexpr size_t kMaxMembers = 256;

}  // namespace

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

Status ModelTable::Expand(const ServedModel& model, std::string_view version, std::optional<Duration> est,
                          int depth, std::vector<Member>* members, std::vector<MixStep>* steps,
                          std::string_view* version_out) const {
  if (!model.is_mix()) {
    StatusOr<const ModelVersion*> v = model.Route(version);
    if (!v.ok()) return v.status();
    if (members->size() >= kMaxMembers) return InvalidArgument("too many models in mixes");
    steps->push_back(MixStep{MixStep::kMember, Aggregator::kMax, static_cast<uint16_t>(members->size())});
    members->push_back(Member{(*v)->batcher.get(), est.value_or(model.config->est)});
    *version_out = (*v)->version;
    return OkStatus();
  }
  if (!version.empty()) return InvalidArgument("mix " + Quote(model.config->name) + " has no versions");
  if (depth > kMaxMixDepth) return InvalidArgument("mixes nest too deeply");
  for (const std::string& name : model.config->members) {
    const ServedModel* member = Find(name);
    if (member == nullptr) {
      return Unavailable("mix " + Quote(model.config->name) + ": member " + Quote(name) + " is not loaded");
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
  if (model == nullptr) return NotFound("unknown model " + Quote(name));
  std::vector<Member> members;
  std::vector<MixStep> steps;
  std::string_view routed;
  TBMS_RETURN_IF_ERROR(Expand(*model, version, est, 0, &members, &steps, &routed));
  if (!model->is_mix()) {
    request->AddModel(model->config->name, members[0].queue, members[0].est, routed);
  } else {
    request->AddMix(model->config->name, members, steps);
  }
  return OkStatus();
}

Status ModelTable::AddMix(std::string_view name, const std::vector<MixMember>& mix, Aggregator aggregator,
                          TryRequest* request) const {
  std::vector<Member> members;
  std::vector<MixStep> steps;
  for (const MixMember& m : mix) {
    const ServedModel* model = Find(m.name);
    if (model == nullptr) return NotFound("unknown model " + Quote(m.name));
    std::string_view ignored;
    TBMS_RETURN_IF_ERROR(Expand(*model, m.version, m.est, 1, &members, &steps, &ignored));
  }
  steps.push_back(MixStep{MixStep::kCombine, aggregator, static_cast<uint16_t>(mix.size())});
  request->AddMix(name, members, steps);
  return OkStatus();
}

}  // namespace tbms
