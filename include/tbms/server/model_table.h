// ModelTable: what the server serves right now — loaded model versions, the
// house's mixes, instances and tasks — as one immutable snapshot. A reload
// builds a new table and swaps it in; a try holds the table it was parsed
// against (TryRequest::owner), so the versions it names stay alive until it
// is answered, whatever reloads happen meanwhile.
// Thread-safe: immutable but for the A/B routing counters (atomic).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/auth/verifier.h"
#include "tbms/backends/executor.h"
#include "tbms/batching/batcher.h"
#include "tbms/broker/try.h"
#include "tbms/house/config.h"
#include "tbms/tune/online.h"

namespace tbms {

// One loaded version of a model. Only the core touches batcher and executor.
struct ModelVersion {
  std::string name;
  std::string version;  // "1", "2", ...
  std::shared_ptr<const ModelConfig> config;
  uint64_t fingerprint = 0;  // model.toml and the version folder, as loaded
  // Declared before the executor so the executor (and its threads) goes first.
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<Executor> executor;
  // [batching] adaptive: the online tuner of the batcher (after it, so it
  // goes first; reset on the core, where its timer lives).
  std::unique_ptr<OnlineBatching> online;
  // [warmup]: the batch times measured at load, until the batcher's service
  // times take them at install; and how long the warm-up took.
  BatchTimes warmup_times;
  Duration warmup_took{0};
};

// A model (or a mix) by name, with the versions that serve it.
struct ServedModel {
  // Serves `versions` (ascending; none for a mix) under `config`, routing
  // between them by its A/B weights (none: the latest takes all).
  void Assign(std::shared_ptr<const ModelConfig> config, std::vector<std::shared_ptr<ModelVersion>> versions);

  std::shared_ptr<const ModelConfig> config;
  std::vector<std::shared_ptr<ModelVersion>> versions;
  std::vector<int64_t> cumulative_weights;  // A/B routing, parallel to versions
  int64_t stride = 1;                       // coprime with the weights' sum
  mutable std::atomic<uint64_t> routed{0};

  bool is_mix() const { return config->is_mix(); }
  // The version that runs a call: `pinned` if given (NOT_FOUND if it is not
  // served), else by the A/B weights — exactly in proportion over every
  // sum-of-weights consecutive calls, interleaved.
  StatusOr<const ModelVersion*> Route(std::string_view pinned) const;
};

// Who may call what: the house's instances (tasks, allowed models, quotas)
// and every access key by id. Immutable; tables share it until
// instances.toml changes.
struct HouseAccess {
  HouseAccess() = default;
  explicit HouseAccess(const HouseConfig& house);
  // What may still serve when instances.toml was read with errors: `served`
  // less every instance, key (id and secret) and allow-list entry that `read`
  // no longer has, and narrowed to `read`'s allow-list where `served` had
  // none. Fail closed: a removal takes effect at once, an addition waits
  // until the file is fixed.
  static HouseAccess Narrowed(const HouseAccess& served, const HouseConfig& read);

  std::vector<InstanceConfig> instances;
  AccessKeys keys;        // the instances' keys and the admin keys
  bool declared = false;  // instances.toml declares instances: no other name is served
};

// PERMISSION_DENIED for a model `instance` may not name (instances.toml
// `models`); a house mix it may name opens its members through the mix.
// A null instance (none declared) may name any.
Status CheckAllowed(const InstanceConfig* instance, std::string_view model);

class ModelTable {
 public:
  // A member of an ad hoc mix given in a try.
  struct MixMember {
    std::string_view name;
    std::string_view version;
    std::optional<Duration> est;
  };

  const ServedModel* Find(std::string_view name) const;
  // The instance's config; NOT_FOUND for one the house does not declare. A
  // house with no instances.toml, or a server of simulated models, takes any
  // name: then nullptr (no tasks, no quotas).
  StatusOr<const InstanceConfig*> FindInstance(std::string_view instance) const;
  // NOT_FOUND for an unknown task.
  StatusOr<const TaskConfig*> FindTask(std::string_view instance, std::string_view task) const;

  // `names` and, for each house mix among them, its members (and theirs):
  // what a caller allowed `names` may set running.
  std::vector<std::string> WithMembers(const std::vector<std::string>& names) const;

  // Appends `name` as a candidate: a model (its routed or pinned version), or
  // a house mix expanded into its members. `est` overrides the model's est
  // (for a mix: each member's).
  Status AddCandidate(std::string_view name, std::string_view version, std::optional<Duration> est,
                      TryRequest* request) const;
  // Appends an ad hoc mix; `name` must outlive the try.
  Status AddMix(std::string_view name, const std::vector<MixMember>& members, Aggregator aggregator,
                TryRequest* request) const;

  std::map<std::string, ServedModel, std::less<>> models;
  // Names the house knows that do not serve (removed, unloaded, failed to
  // load): a try's candidate naming one is not launched but reported
  // `unavailable`, and the next candidate runs. Any other unknown name is
  // NOT_FOUND.
  std::set<std::string, std::less<>> unserved;
  // The first member of `mix` (or of a mix in it) that does not serve; empty
  // when all do.
  std::string_view MissingMember(const ServedModel& mix) const;
  std::shared_ptr<const HouseAccess> access = std::make_shared<const HouseAccess>();

 private:
  Status Expand(const ServedModel& model, std::string_view version, std::optional<Duration> est,
                int depth, std::vector<Member>* members, std::vector<MixStep>* steps,
                std::string_view* version_out) const;
};

}  // namespace tbms
