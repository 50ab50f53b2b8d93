// The model house: a folder of models, versions and mixes, and the
// instances and tasks that use them (design brief, section 6).
//
//   house/
//     instances.toml         instances and their named tasks
//     embedding/model.toml   backend, batching, replicas, est, lag target,
//                            labels, inputs/outputs, version policy, A/B weights
//     embedding/1/...        version 1 artifacts
//     mix1/model.toml        backend = "mix", members, aggregator
//
// LoadHouse reads and validates everything and reports every error it finds
// as "file:line:column: message" (not only the first), so `tbms house check`
// and the server's refusal to start say the same thing. The file format is
// documented in docs/house.md. Pure functions over the file system;
// thread-safe.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/auth/signing.h"
#include "tbms/backends/simulated.h"
#include "tbms/batching/batcher.h"
#include "tbms/broker/try.h"
#include "tbms/common/status.h"
#include "tbms/common/tensor.h"
#include "tbms/house/devices.h"

namespace tbms {

struct TensorSpec {
  std::string name;
  DataType datatype = DataType::kBytes;
  std::vector<int64_t> shape;  // -1: any size
};

// Which of a model's version folders are served (Triton's version_policy).
struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int latest = 1;                 // kLatest: the N highest versions
  std::vector<int64_t> specific;  // kSpecific: exactly these
};

// One version folder of a model, with what its backend needs to load it.
struct VersionConfig {
  int64_t number = 0;
  std::filesystem::path dir;
  SimulatedExecutor::Options simulated;  // backend "simulated": from <v>/simulated.toml
  // A digest of the folder's files (names, sizes, mtimes): a change means reload.
  uint64_t fingerprint = 0;
};

// The backend name of a mix (backend = "mix" in model.toml): a model that
// runs its members and combines their answers, with no versions of its own.
// Compare with ModelConfig::is_mix(), not with the string.
inline constexpr std::string_view kMixBackend = "mix";

// model.toml's key for ModelConfig::replicas, and its old name, still read
// (with a warning; giving both is an error) now that "instance" means only
// the tenant of instances.toml.
inline constexpr std::string_view kReplicasKey = "replicas";
inline constexpr std::string_view kDeprecatedReplicasKey = "instances";

// The backend name of a model served by another KServe v2 server
// (backend = "kserve": Triton, KServe, MLServer, another TBMS), with its
// [remote] table. Compare with ModelConfig::is_remote().
inline constexpr std::string_view kRemoteBackend = "kserve";

// The backend name of a simulated model (its versions' simulated.toml: a
// model of GPUs that takes no real time). Compare with is_simulated().
inline constexpr std::string_view kSimulatedBackend = "simulated";

// [remote] of a kserve model (docs/house.md, "Remote models").
struct RemoteConfig {
  std::string protocol = "http";       // "http" (REST) or "grpc"
  std::vector<std::string> endpoints;  // HOST:PORT each
  std::string model;                   // its name there (default: this model's)
  std::string version;                 // its version there (default: the server's choice)
  int in_flight = 1;                   // batches at once per endpoint: the replicas its batcher sees
  Duration connect_timeout = std::chrono::seconds(1);
  Duration timeout{0};                 // per call; 0: the batch's deadline alone
  bool tls = false;                    // https / gRPC over TLS
  std::string ca_file;                 // with tls: trust only this CA (PEM); empty: the system's
  AccessKey key;                       // a TBMS remote: sign with this key (id empty: unsigned)
  std::string bearer;                  // another server: "Authorization: Bearer <token>"
  bool share_estimates = true;         // a TBMS worker's expected_now floors this broker's predictions
  int eject_after = 3;                 // consecutive failures that take an endpoint out
  Duration eject_for = std::chrono::seconds(1);  // then a readiness probe lets it back
};

struct ModelConfig {
  std::string name;  // the folder's name
  std::filesystem::path dir;
  std::string backend;  // kMixBackend, kRemoteBackend, kSimulatedBackend or a real backend's name (keysearch, ...)
  bool is_mix() const { return backend == kMixBackend; }
  bool is_remote() const { return backend == kRemoteBackend; }
  bool is_simulated() const { return backend == kSimulatedBackend; }
  Duration est{0};          // the prior when a try gives no est
  Duration lag_target{0};   // 0: none
  int replicas = 1;         // copies of the model that run batches at once: the groups' sum
  std::string device = "cpu";  // the first group's device (its metrics' device label)
  // Where the replicas run, resolved against devices.toml: its
  // [[instance_group]] list, or one group of `replicas` on `device`.
  std::vector<ReplicaGroup> groups;
  std::map<std::string, std::string> labels;
  Batcher::Options batching;  // model name filled in
  // [batching] adaptive: the online tuner moves max_batch_size (up to the
  // one above) and max_queue_delay to hold lag_target (tbms/tune/online.h).
  bool adaptive_batching = false;
  // [limits]: the questions it takes (a 64 KiB question of 10,000 words once
  // kept keysearch busy for a second).
  InputLimits input_limits{.max_question_bytes = 64 * 1024, .max_terms = 256};
  // [warmup] (Triton's model_warmup): `count` batches of each size
  // WarmupSizes picks (every size up to 32 at count 8; a spread of the
  // larger ones) run on one replica when a version loads, before it takes
  // traffic; their times seed its service times, so its first tries are
  // planned on the model's own times, not on the callers' ests. 0: only
  // `question`, once, to check the model answers (a real model's load).
  struct Warmup {
    int count = 0;
    std::string question = "a small warm-up question";
  } warmup;
  std::vector<TensorSpec> inputs, outputs;
  VersionPolicy version_policy;
  std::map<int64_t, int> weights;       // A/B split between served versions; empty: the latest
  std::vector<VersionConfig> versions;  // the served ones (after the policy), ascending
  RemoteConfig remote;  // backend = "kserve"
  // backend = "mix":
  std::vector<std::string> members;  // model or mix names, in rank order
  Aggregator aggregator = Aggregator::kMax;
  // A digest of model.toml: a change means reload.
  uint64_t fingerprint = 0;
};

struct TaskConfig {
  std::string name;
  std::vector<std::string> models;  // model or mix names, rank order (0 is best)
  Duration tloc{0};
  int cross_request = 0;
  Duration cross_lag{0};
  int priority = 0;
  Hedge hedge = Hedge::kAtRisk;
};

struct InstanceConfig {
  std::string name;
  std::map<std::string, TaskConfig, std::less<>> tasks;
  // The models and mixes its callers may name (a house mix opens its
  // members through it); empty: every model of the house.
  std::vector<std::string> models;
  std::vector<AccessKey> keys;  // secrets read from files or the environment

  bool Allows(std::string_view model) const {
    return models.empty() || std::find(models.begin(), models.end(), model) != models.end();
  }
  // Quotas (0: none): tries (and v2 infers by its keys) in flight at once, and per second
  // (a token bucket holding one second's worth). Over either: 429 + Retry-After.
  int max_concurrent = 0;
  double max_rps = 0;
};

struct HouseConfig {
  std::filesystem::path dir;
  std::vector<ModelConfig> models;  // by name
  std::vector<InstanceConfig> instances;
  std::vector<AccessKey> admin_keys;  // [admin] keys: every endpoint, the repository API
  std::vector<DeviceConfig> devices;  // devices.toml's, by name
};

struct HouseLimits {
  size_t max_file_bytes = 1 << 20;
  size_t max_models = 1024;
  size_t max_versions = 64;       // served per model
  int max_replicas_per_model = 256;
  // false: check where each key's secret is declared, without reading it
  // (`tbms house check --no-secrets`, where the secrets are not present).
  bool read_secrets = true;
};

// One problem found in the house. `model` is empty for instances.toml and
// house-wide problems; `version` is 0 for problems of the model as a whole.
struct HouseError {
  // Where it is: a model's folder, instances.toml, devices.toml, or the
  // house folder itself (missing, unlistable, too many model folders).
  enum class Source { kModel, kInstances, kDevices, kFolder };
  std::string model;
  int64_t version = 0;
  std::string message;  // "file:line:column: what is wrong" (line/column when known)
  // A task or an allow-list of instances.toml naming a model that is not in
  // the house or in error. An error for `tbms house check` and at start; on a
  // reload it holds nothing back: the instance keeps its keys, and its tries
  // skip that model.
  bool names_model = false;
  Source source = Source::kModel;
};

// A key of a valid model that the house accepts but the server does not act
// on (lag_target_ms without the online tuner, a GPU for a backend with no GPU
// path: docs/house.md says which), or accepts under
// a deprecated name (instances). Not an error: `tbms house check` prints it
// and exits 0; the server logs it once per model and key.
struct HouseWarning {
  std::string model;
  std::string key;
  // "file:line:column: model 'svm': lag_target_ms is not acted on by the server yet, ..."
  std::string message;
};

// What a scan found: the valid part of the house, and every problem.
// config.models holds only models without model-wide errors, each with only
// its valid versions; a mix whose members are in error is in error too.
// Tasks naming a model in error are in error (instances.toml).
struct HouseScan {
  HouseConfig config;
  std::vector<HouseError> errors;
  std::vector<HouseWarning> warnings;  // of the models in config.models
  // False when instances.toml exists but is not TOML: nothing in it is known.
  bool instances_read = true;
  // False when the house folder itself cannot be read (a Source::kFolder
  // error): nothing in it is known, so a reload changes nothing.
  bool folder_read = true;
};

// Reads and validates the house at `dir`, reporting every error it finds.
// The server's reloader uses the valid part and shows the rest per model.
HouseScan ScanHouse(const std::filesystem::path& dir, const HouseLimits& limits = {});

// ScanHouse, all or nothing: INVALID_ARGUMENT listing every error, one per
// line, when there is any (what `tbms house check` prints and what stops
// the server from starting). `warnings`, if given, receives the scan's.
StatusOr<HouseConfig> LoadHouse(const std::filesystem::path& dir, const HouseLimits& limits = {},
                                std::vector<HouseWarning>* warnings = nullptr);

}  // namespace tbms
