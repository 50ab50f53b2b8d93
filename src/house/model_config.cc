// Reading one model's files: model.toml (backend, batching, version policy,
// weights, tensors, labels, or a mix's members) and a simulated version's
// simulated.toml. See model_config.h; the format is in docs/house.md.
#include "model_config.h"
#include "placement.h"

#include "keys.h"

#include <algorithm>
#include <charconv>
#include <span>

#include "tbms/batching/batcher.h"
#include "tbms/common/address.h"
#include "tbms/tune/profile.h"

namespace tbms::house_detail {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMaxList = 32;  // models of a task, members of a mix
constexpr size_t kMaxTensors = 64;
constexpr size_t kMaxRank = 8;

void ReadBatching(const toml::table& table, Diag& diag, ModelConfig* m) {
  Batcher::Options* out = &m->batching;
  Fields f(table, "[batching]", diag);
  f.AllowOnly({"max_batch_size", "preferred_batch_sizes", "max_queue_delay_ms", "max_queue_size", "adaptive"});
  if (auto v = f.Bool("adaptive")) m->adaptive_batching = *v;
  if (auto v = f.Int("max_batch_size", 1, Batcher::kMaxBatchSize)) out->max_batch_size = static_cast<int>(*v);
  if (const toml::array* sizes = f.Array("preferred_batch_sizes")) {
    for (const toml::node& n : *sizes) {
      auto v = IntValue(n, ItemOf("preferred_batch_sizes"), 1, out->max_batch_size, diag);
      if (v) out->preferred_batch_sizes.push_back(static_cast<int>(*v));
    }
  }
  if (auto v = f.Number("max_queue_delay_ms", 0, 60'000)) out->max_queue_delay = Millis(*v);
  if (auto v = f.Int("max_queue_size", 1, 1'000'000)) out->max_queue_size = static_cast<size_t>(*v);
}

void ReadLimits(const toml::table& table, Diag& diag, InputLimits* out) {
  Fields f(table, "[limits]", diag);
  f.AllowOnly({"max_question_bytes", "max_terms"});
  if (auto v = f.Int("max_question_bytes", 1, 64 * 1024)) out->max_question_bytes = static_cast<size_t>(*v);
  if (auto v = f.Int("max_terms", 1, 100'000)) out->max_terms = static_cast<size_t>(*v);
}

// After [limits]: the question must be one the model takes.
void ReadWarmup(const toml::table& table, Diag& diag, ModelConfig* m) {
  Fields f(table, "[warmup]", diag);
  f.AllowOnly({"count", "question"});
  if (const toml::node* count = f.Get("count")) {
    // The whole int64 range, so that CheckWarmupCount says what the rule is.
    using Any = std::numeric_limits<int64_t>;
    auto v = IntValue(*count, "'count'", Any::min(), Any::max(), diag);
    if (Status s = v ? CheckWarmupCount(*v) : OkStatus(); !s.ok()) {
      diag.At(count->source(), "[warmup] count " + s.message());
    } else if (v) {
      m->warmup.count = static_cast<int>(*v);
    }
  }
  if (auto q = f.String("question")) {
    const Status takes =
        q->empty() ? InvalidArgument("the question is empty") : m->input_limits.Check(QuestionSize::Of(*q));
    if (!takes.ok()) {
      diag.At(f.Get("question")->source(), "[warmup] question: " + takes.message());
    } else {
      m->warmup.question = *q;
    }
  }
}

// Whether the ascending `versions` hold `v`.
bool HasVersion(const std::vector<int64_t>& versions, int64_t v) {
  return std::binary_search(versions.begin(), versions.end(), v);
}

void ReadSpecific(const toml::array& list, const std::vector<int64_t>& available,
                  const HouseLimits& limits, Diag& diag, VersionPolicy* out) {
  if (list.empty() || list.size() > limits.max_versions) {
    diag.At(list.source(), "'specific' must list 1 to " + std::to_string(limits.max_versions) +
                               " versions");
    return;
  }
  for (const toml::node& n : list) {
    auto v = IntValue(n, ItemOf("specific"), 1, INT64_MAX, diag);
    if (!v) continue;
    if (std::find(out->specific.begin(), out->specific.end(), *v) != out->specific.end()) {
      diag.At(n.source(), "version " + std::to_string(*v) + " is listed twice");
    } else if (!HasVersion(available, *v)) {
      diag.At(n.source(), "version " + std::to_string(*v) + " has no folder");
    } else {
      out->specific.push_back(*v);
    }
  }
  std::sort(out->specific.begin(), out->specific.end());
}

void ReadVersionPolicy(const toml::table& table, const std::vector<int64_t>& available,
                       const HouseLimits& limits, Diag& diag, VersionPolicy* out) {
  Fields f(table, "[version_policy]", diag);
  f.AllowOnly({"latest", "all", "specific"});
  if (f.Has("latest") + f.Has("all") + f.Has("specific") != 1) {
    diag.At(table.source(), "[version_policy] needs exactly one of latest, all, specific");
    return;
  }
  if (auto n = f.Int("latest", 1, static_cast<int64_t>(limits.max_versions))) {
    out->kind = VersionPolicy::Kind::kLatest;
    out->latest = static_cast<int>(*n);
  } else if (auto all = f.Bool("all")) {
    out->kind = VersionPolicy::Kind::kAll;
    if (!*all) diag.At(f.Get("all")->source(), "'all' must be true (for the latest only, use latest = 1)");
    if (available.size() > limits.max_versions) {
      diag.At(f.Get("all")->source(), "'all' serves " + std::to_string(available.size()) +
                                          " versions, more than the limit of " +
                                          std::to_string(limits.max_versions));
    }
  } else if (const toml::array* list = f.Array("specific")) {
    out->kind = VersionPolicy::Kind::kSpecific;
    ReadSpecific(*list, available, limits, diag, out);
  }
}

// The versions the policy serves, ascending.
std::vector<int64_t> Served(const VersionPolicy& policy, const std::vector<int64_t>& available) {
  switch (policy.kind) {
    case VersionPolicy::Kind::kLatest: {
      const size_t n = std::min(available.size(), static_cast<size_t>(policy.latest));
      return {available.end() - static_cast<ptrdiff_t>(n), available.end()};
    }
    case VersionPolicy::Kind::kAll: return available;
    case VersionPolicy::Kind::kSpecific: return policy.specific;
  }
  return {};
}

void ReadWeights(const toml::table& table, const std::vector<int64_t>& served, Diag& diag,
                 std::map<int64_t, int>* out) {
  for (const auto& [key, node] : table) {
    const auto version = VersionNumber(key.str());
    if (!version) {
      diag.At(key.source(), "bad version '" + std::string(key.str()) + "' in [weights]");
      continue;
    }
    auto weight = IntValue(node, "the weight of version " + std::string(key.str()), 1, 1'000'000, diag);
    if (!weight) continue;
    if (!HasVersion(served, *version)) {
      diag.At(key.source(), "version " + std::string(key.str()) + " in [weights] is not served");
      continue;
    }
    (*out)[*version] = static_cast<int>(*weight);
  }
}

std::optional<TensorSpec> ReadTensor(const toml::node& node, std::string_view key, Diag& diag) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    WrongType(node, ItemOf(key), "a table", diag);
    return std::nullopt;
  }
  const size_t before = diag.count();
  Fields f(*table, "[[" + std::string(key) + "]]", diag);
  f.AllowOnly({"name", "datatype", "shape"});
  TensorSpec spec;
  if (f.Require("name")) spec.name = f.String("name").value_or("");
  if (f.Require("datatype")) {
    if (auto type = Parsed(*f.Get("datatype"), "'datatype'", &ParseDataType, diag)) spec.datatype = *type;
  }
  if (f.Require("shape")) {
    if (const toml::array* dims = f.Array("shape")) {
      if (dims->size() > kMaxRank) diag.At(dims->source(), "'shape' has more than " + std::to_string(kMaxRank) + " dimensions");
      for (const toml::node& d : *dims) {
        if (auto v = IntValue(d, ItemOf("shape"), -1, INT32_MAX, diag)) spec.shape.push_back(*v);
      }
    }
  }
  if (diag.count() != before) return std::nullopt;
  return spec;
}

std::vector<TensorSpec> ReadTensors(const Fields& f, std::string_view key, Diag& diag,
                                    TensorSpec fallback) {
  const toml::array* list = f.Array(key);
  if (list == nullptr) return {fallback};
  if (list->empty() || list->size() > kMaxTensors) {
    diag.At(list->source(), Quoted(key) + " must list 1 to " + std::to_string(kMaxTensors) + " tensors");
    return {};
  }
  std::vector<TensorSpec> out;
  for (const toml::node& n : *list) {
    auto spec = ReadTensor(n, key, diag);
    if (!spec) continue;
    const bool dup = std::any_of(out.begin(), out.end(), [&](const TensorSpec& t) { return t.name == spec->name; });
    if (dup) diag.At(n.source(), "tensor '" + spec->name + "' is listed twice in '" + std::string(key) + "'");
    else out.push_back(std::move(*spec));
  }
  return out;
}

void ReadLabels(const toml::table& table, Diag& diag, std::map<std::string, std::string>* out) {
  for (const auto& [key, node] : table) {
    if (auto v = StringValue(node, "label '" + std::string(key.str()) + "'", diag)) {
      (*out)[std::string(key.str())] = *v;
    }
  }
}

// Where a remote's credential is: exactly one of `file_key` and `env_key`,
// or neither (nullopt, nothing to read).
std::optional<std::string> ReadCredential(const Fields& f, std::string_view file_key, std::string_view env_key,
                                          const fs::path& house, bool read_secrets, Diag& diag) {
  if (f.Has(file_key) && f.Has(env_key)) {
    diag.At(f.Get(env_key)->source(), "give one of " + Quoted(file_key) + " and " + Quoted(env_key));
    return std::nullopt;
  }
  const auto file = f.String(file_key);
  const auto env = f.String(env_key);
  if (!file && !env) return std::nullopt;
  if (!read_secrets) return std::string();  // declared: enough for house check --no-secrets
  if (file) return SecretFromFile(*file, house, *f.Get(file_key), diag);
  return SecretFromEnv(*env, *f.Get(env_key), diag);
}

}  // namespace

std::vector<std::string> ReadEndpoints(const toml::array& list, std::string_view prefix, Diag& diag) {
  if (list.empty() || list.size() > 256) diag.At(list.source(), std::string(prefix) + "'endpoints' must list 1 to 256 HOST:PORT");
  std::vector<std::string> out;
  for (const toml::node& n : list) {
    auto e = StringValue(n, ItemOf("endpoints"), diag);
    if (!e) continue;
    if (!ParseHostPort(*e)) diag.At(n.source(), "endpoint '" + *e + "' must be HOST:PORT, e.g. 10.0.0.5:8000");
    else out.push_back(*e);
  }
  return out;
}

namespace {

void ReadRemote(const toml::table& table, const HouseLimits& limits, Diag& diag, ModelConfig* m) {
  Fields f(table, "[remote]", diag);
  f.AllowOnly({"protocol", "endpoints", "model", "version", "in_flight", "connect_timeout_ms", "timeout_ms", "tls",
               "ca_file", "access_id", "secret_file", "secret_env", "bearer_file", "bearer_env", "eject_after",
               "eject_for_ms", "share_estimates"});
  RemoteConfig& r = m->remote;
  if (auto p = f.String("protocol")) {
    if (*p == "http" || *p == "grpc") r.protocol = *p;
    else diag.At(f.Get("protocol")->source(), "'protocol' must be \"http\" or \"grpc\", not '" + *p + "'");
  }
  // An instance group on a remote device (devices.toml) gives the endpoints instead.
  if (m->groups.empty() ? f.Require("endpoints") : f.Has("endpoints")) {
    if (const toml::array* list = f.Array("endpoints")) r.endpoints = ReadEndpoints(*list, "", diag);
  }
  r.model = f.String("model").value_or(m->name);
  if (r.model.empty()) diag.At(f.Get("model")->source(), "'model' must not be empty");
  if (auto v = f.String("version")) r.version = *v;
  if (auto v = f.Int("in_flight", 1, 256)) r.in_flight = static_cast<int>(*v);
  if (f.Has("in_flight") && !m->groups.empty()) {
    diag.At(f.Get("in_flight")->source(), "give remote.in_flight or the instance group's count, not both");
  }
  if (auto v = f.Number("connect_timeout_ms", 1, 60'000)) r.connect_timeout = Millis(*v);  // 0 would fail every probe
  if (auto v = f.Ms("timeout_ms", std::chrono::minutes(10))) r.timeout = *v;
  if (auto v = f.Bool("tls")) r.tls = *v;
  if (auto v = f.Bool("share_estimates")) r.share_estimates = *v;
  const fs::path house = m->dir.parent_path();
  if (auto v = f.String("ca_file")) {
    if (!r.tls) diag.At(f.Get("ca_file")->source(), "'ca_file' needs tls = true");
    r.ca_file = (fs::path(*v).is_absolute() ? fs::path(*v) : house / *v).string();
  }
  if (auto v = f.Int("eject_after", 1, 1000)) r.eject_after = static_cast<int>(*v);
  if (auto v = f.Ms("eject_for_ms", std::chrono::minutes(10))) r.eject_for = *v;
  const auto secret = ReadCredential(f, "secret_file", "secret_env", house, limits.read_secrets, diag);
  const auto bearer = ReadCredential(f, "bearer_file", "bearer_env", house, limits.read_secrets, diag);
  const auto id = f.String("access_id");
  if (id.has_value() != secret.has_value() && diag.count() == 0) {
    diag.At(table.source(), "a TBMS remote's key needs both 'access_id' and one of 'secret_file', 'secret_env'");
  }
  if (id && secret) r.key = {*id, *secret, ""};
  if (bearer) r.bearer = *bearer;
  if (bearer && id) diag.At(f.Get("access_id")->source(), "give a TBMS key (access_id) or a bearer token, not both");
  const int64_t replicas = static_cast<int64_t>(r.endpoints.size()) * r.in_flight;
  if (replicas > limits.max_replicas_per_model) {
    diag.At(table.source(), "endpoints x in_flight is " + std::to_string(replicas) + " replicas, at most " +
                                std::to_string(limits.max_replicas_per_model) + " are allowed");
  }
  m->replicas = static_cast<int>(std::max<int64_t>(1, replicas));
  m->device = "remote";  // its replicas are call slots on other servers (the report's device column)
  VersionConfig& version = m->versions.emplace_back();  // one version here, whatever the remote serves
  version.number = 1;
  version.dir = m->dir;
  // What model.toml's bytes do not show: a rotated credential or CA file
  // is a change, so a reload calls with it (hashed: no secret is kept).
  std::error_code ec;
  const auto ca_size = r.ca_file.empty() ? 0 : fs::file_size(r.ca_file, ec);
  const auto ca_time = r.ca_file.empty() ? 0 : fs::last_write_time(r.ca_file, ec).time_since_epoch().count();
  version.fingerprint = std::hash<std::string>{}(secret.value_or("") + '\0' + bearer.value_or("") + '\0' +
                                                 std::to_string(ca_size) + '@' + std::to_string(ca_time));
}

// Keys that belong to the other kind of model.
void CheckKind(const Fields& f, bool is_mix, Diag& diag) {
  static constexpr std::string_view kServedOnly[] = {"est",     kReplicasKey,     kDeprecatedReplicasKey, "device",
                                                      "batching", "version_policy", "weights", "limits", "instance_group",
                                                      "warmup"};
  static constexpr std::string_view kMixOnly[] = {"members", "aggregator"};
  using Keys = std::span<const std::string_view>;
  for (std::string_view key : is_mix ? Keys(kServedOnly) : Keys(kMixOnly)) {
    const toml::node* n = f.Get(key);
    if (n == nullptr) continue;
    diag.At(n->source(), Quoted(key) + (is_mix ? " does not apply to a mix"
                                                : " applies only to a mix (backend = \"mix\")"));
  }
}

// `replicas`, or the same under its deprecated name (config.cc warns of
// it). Both at once is an error: which one was meant is not ours to guess.
void ReadReplicas(const Fields& f, const HouseLimits& limits, Diag& diag, ModelConfig* m) {
  const bool old_name = f.Has(kDeprecatedReplicasKey);
  if (old_name && f.Has(kReplicasKey)) {
    diag.At(f.Get(kDeprecatedReplicasKey)->source(),
            Quoted(kDeprecatedReplicasKey) + " is the deprecated name of " + Quoted(kReplicasKey) +
                ": give only " + Quoted(kReplicasKey));
    return;
  }
  const std::string_view key = old_name ? kDeprecatedReplicasKey : kReplicasKey;
  if (auto v = f.Int(key, 1, limits.max_replicas_per_model)) m->replicas = static_cast<int>(*v);
}

// The keys of a model that serves version folders (not a mix).
// [[instance_group]], or `replicas` on `device` (resolved house-wide: placement.h).
void ReadPlacement(const Fields& f, const HouseLimits& limits, Diag& diag, ModelConfig* m, ModelSource* source) {
  if (const toml::array* groups = f.Array("instance_group")) {
    for (std::string_view key : {kReplicasKey, kDeprecatedReplicasKey, std::string_view("device")}) {
      if (f.Has(key)) diag.At(f.Get(key)->source(), "give [[instance_group]] or " + Quoted(key) + ", not both");
    }
    ReadInstanceGroups(*groups, limits, diag, m, source);
    return;
  }
  ReadReplicas(f, limits, diag, m);
  if (auto d = f.String("device")) {
    m->device = *d;
    source->device_at = f.Get("device")->source().begin;
  }
}

void ReadServedModel(const Fields& f, const Folders& folders, const HouseLimits& limits, Diag& diag,
                     ModelConfig* m, ModelSource* source) {
  if (f.Require("est")) m->est = f.Ms("est").value_or(Duration(0));
  ReadPlacement(f, limits, diag, m, source);
  if (const toml::table* b = f.Table("batching")) ReadBatching(*b, diag, m);
  if (const toml::table* l = f.Table("limits")) ReadLimits(*l, diag, &m->input_limits);
  if (const toml::table* w = f.Table("warmup")) ReadWarmup(*w, diag, m);
  if (const toml::table* p = f.Table("version_policy")) {
    ReadVersionPolicy(*p, folders.versions, limits, diag, &m->version_policy);
  }
  const std::vector<int64_t> served = Served(m->version_policy, folders.versions);
  if (const toml::table* w = f.Table("weights")) ReadWeights(*w, served, diag, &m->weights);
  for (int64_t v : served) {
    VersionConfig& version = m->versions.emplace_back();
    version.number = v;
    version.dir = m->dir / std::to_string(v);
  }
}

void ReadMix(const Fields& f, Diag& diag, ModelConfig* m, ModelSource* source) {
  if (f.Require("members")) {
    if (const toml::array* list = f.Array("members")) {
      m->members = ReadNames(*list, "members", diag, &source->at);
    }
  }
  if (const toml::node* n = f.Get("aggregator")) {
    if (auto a = Parsed(*n, "'aggregator'", &ParseAggregator, diag)) m->aggregator = *a;
  }
}

}  // namespace

std::optional<int64_t> VersionNumber(std::string_view name) {
  if (name.empty() || name[0] == '0' || name.size() > 18) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc() || end != name.data() + name.size()) return std::nullopt;
  return v;
}

std::vector<std::string> ReadNames(const toml::array& list, std::string_view key, Diag& diag,
                                   std::vector<toml::source_position>* at) {
  std::vector<std::string> out;
  if (list.empty() || list.size() > kMaxList) {
    diag.At(list.source(), Quoted(key) + " must list 1 to " + std::to_string(kMaxList) + " names");
    return out;
  }
  for (const toml::node& n : list) {
    auto name = StringValue(n, ItemOf(key), diag);
    if (!name) continue;
    if (std::find(out.begin(), out.end(), *name) != out.end()) {
      diag.At(n.source(), "'" + *name + "' is listed twice in '" + std::string(key) + "'");
      continue;
    }
    out.push_back(std::move(*name));
    at->push_back(n.source().begin);
  }
  return out;
}

const std::map<std::string, std::vector<std::string>, std::less<>>& Artifacts() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> artifacts = {
      {std::string(kSimulatedBackend), {"simulated.toml"}},
      {"keysearch", {"index"}},
      {"bayes", {"bayes.model"}},
      {"svm", {"svm.model", "features.txt", "labels.txt"}},
      {"embedding", {"embedding.bin", "vectors.f32", "labels.txt"}},
  };
  return artifacts;
}

void ReadModel(const toml::table& table, const Folders& folders, const HouseLimits& limits,
               Diag& diag, ModelConfig* m, ModelSource* source) {
  source->file = diag.file();
  Fields f(table, "model.toml", diag, /*is_file=*/true);
  f.AllowOnly({"backend", "est", "lag_target_ms", kReplicasKey, "device", "labels", "batching", "limits",
               "version_policy", "weights", "inputs", "outputs", "members", "aggregator", "remote", "instance_group",
               "warmup"},
              {kDeprecatedReplicasKey});
  if (f.Require("backend")) {
    if (auto b = f.String("backend")) {
      if (*b == kMixBackend || *b == kRemoteBackend || Artifacts().count(*b) != 0) {
        m->backend = *b;
      } else {
        diag.At(f.Get("backend")->source(),
                "unknown backend '" + *b + "' (expected simulated, keysearch, bayes, svm, embedding, kserve or mix)");
      }
    }
  }
  const bool is_mix = m->is_mix();
  CheckKind(f, is_mix, diag);
  if (auto v = f.Ms("lag_target_ms")) m->lag_target = *v;
  if (const toml::table* l = f.Table("labels")) ReadLabels(*l, diag, &m->labels);
  m->inputs = ReadTensors(f, "inputs", diag, {"question", DataType::kBytes, {1}});
  m->outputs = ReadTensors(f, "outputs", diag, {"answer", DataType::kBytes, {1}});
  m->batching.model = m->name;
  const toml::table* remote = f.Table("remote");
  if (m->is_remote() != (remote != nullptr) && m->backend.size() > 0) {
    diag.At(m->is_remote() ? table.source() : f.Get("remote")->source(),
            m->is_remote() ? "a kserve model needs a [remote] table (protocol, endpoints, ...)"
                           : "[remote] applies only to backend = \"kserve\"");
  }
  if (is_mix) {
    ReadMix(f, diag, m, source);
  } else if (m->is_remote()) {
    for (std::string_view key : {kReplicasKey, kDeprecatedReplicasKey, std::string_view("version_policy"),
                                 std::string_view("weights"), std::string_view("device")}) {
      if (f.Has(key)) {
        diag.At(f.Get(key)->source(), Quoted(key) + " does not apply to a kserve model (its replicas are "
                                                    "endpoints x remote.in_flight; its versions are the remote's)");
      }
    }
    if (f.Has("warmup")) {
      diag.At(f.Get("warmup")->source(), "[warmup] does not apply to a kserve model (the remote serves already, "
                                         "and may be down at load; its times are learned from its first calls)");
    }
    if (f.Require("est")) m->est = f.Ms("est").value_or(Duration(0));
    if (const toml::table* b = f.Table("batching")) ReadBatching(*b, diag, m);
    if (const toml::table* l = f.Table("limits")) ReadLimits(*l, diag, &m->input_limits);
    if (const toml::array* groups = f.Array("instance_group")) ReadInstanceGroups(*groups, limits, diag, m, source);
    if (remote != nullptr) ReadRemote(*remote, limits, diag, m);
  } else {
    ReadServedModel(f, folders, limits, diag, m, source);
  }
  if (m->adaptive_batching && m->lag_target == Duration(0)) {
    diag.At(f.Table("batching")->get("adaptive")->source(),
            "[batching] adaptive needs lag_target_ms: the p99 lag the online tuner holds");
  }
}

void ReadSimulated(const fs::path& file, const HouseLimits& limits, Diag& diag,
                   SimulatedExecutor::Options* out) {
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    diag.Here("missing artifact (a simulated version needs one)");
    return;
  }
  auto table = LoadToml(file, limits, diag);
  if (!table) return;
  Fields f(*table, "simulated.toml", diag, /*is_file=*/true);
  f.AllowOnly({"base_ms", "per_item_ms", "jitter", "jitter_spread", "straggler_rate",
               "straggler_factor", "failure_rate", "hang_rate", "hang_ms", "seed", "echo", "score"});
  if (f.Require("base_ms")) out->base = f.Ms("base_ms").value_or(Duration(0));
  if (auto v = f.Ms("per_item_ms")) out->per_item = *v;
  if (const toml::node* n = f.Get("jitter")) {
    if (auto j = Parsed(*n, "'jitter'", &ParseJitter, diag)) out->jitter = *j;
  }
  if (auto v = f.Number("jitter_spread", 0, 10)) out->jitter_spread = *v;
  if (auto v = f.Number("straggler_rate", 0, 1)) out->straggler_rate = *v;
  if (auto v = f.Number("straggler_factor", 1, 1000)) out->straggler_factor = *v;
  if (auto v = f.Number("failure_rate", 0, 1)) out->failure_rate = *v;
  if (auto v = f.Number("hang_rate", 0, 1)) out->hang_rate = *v;
  if (auto v = f.Ms("hang_ms")) out->hang_time = *v;
  if (auto v = f.Int("seed", 0, INT64_MAX)) out->seed = static_cast<uint64_t>(*v);
  if (auto v = f.Bool("echo")) out->echo = *v;
  if (auto v = f.Number("score", 0, 1)) out->score = *v;
}

}  // namespace tbms::house_detail
