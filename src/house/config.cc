// Reading the model house: every file is read bounded, pre-scanned for
// hostile nesting, parsed with toml++ and checked key by key; each problem is
// reported where it is written and the scan goes on, so one run shows them all.
// The format is documented in docs/house.md. This file walks the folders and
// runs the house-wide checks; the TOML machinery is in toml_fields.cc and the
// readers of model.toml and simulated.toml in model_config.cc.
#include "tbms/house/config.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include <toml++/toml.h>

#include "keys.h"
#include "tbms/broker/limits.h"
#include "tbms/common/names.h"
#include "model_config.h"
#include "placement.h"
#include "toml_fields.h"

namespace tbms {
namespace {

namespace fs = std::filesystem;

using house_detail::Artifacts, house_detail::Diag, house_detail::Fields, house_detail::Folders,
    house_detail::LoadToml, house_detail::ModelSource, house_detail::ReadModel,
    house_detail::ReadNames, house_detail::ReadSimulated, house_detail::Shown,
    house_detail::VersionNumber, house_detail::WrongType;

constexpr size_t kMaxEntries = 10'000;  // per folder walk: model folders, version folders

class Fnv1a {
 public:
  void Add(std::string_view bytes) {
    for (unsigned char c : bytes) hash_ = (hash_ ^ c) * 1099511628211ull;
    hash_ = (hash_ ^ 0xff) * 1099511628211ull;  // a separator: "ab","c" differs from "a","bc"
  }
  void Add(uint64_t v) { Add(std::to_string(v)); }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 14695981039346656037ull;
};

// A digest of the relative paths, sizes, mtimes and link targets under `dir`.
// Directory links are not followed, so the walk ends even on a link loop.
std::optional<uint64_t> FolderFingerprint(const fs::path& dir, Diag& diag) {
  struct Entry {
    std::string path, link;
    uint64_t size = 0, mtime = 0;
  };
  std::vector<Entry> entries;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (entries.size() == kMaxEntries) {
      diag.Here("more than " + std::to_string(kMaxEntries) + " entries");
      return std::nullopt;
    }
    Entry e{it->path().lexically_relative(dir).generic_string(), {}, 0, 0};
    std::error_code ignored;
    if (it->is_symlink(ignored)) e.link = fs::read_symlink(it->path(), ignored).string();
    if (it->is_regular_file(ignored)) {
      e.size = it->file_size(ignored);
      e.mtime = static_cast<uint64_t>(it->last_write_time(ignored).time_since_epoch().count());
    }
    entries.push_back(std::move(e));
  }
  if (ec) {
    diag.Here("cannot be listed: " + ec.message());
    return std::nullopt;
  }
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; });
  Fnv1a hash;
  for (const Entry& e : entries) {
    hash.Add(e.path);
    hash.Add(e.link);
    hash.Add(e.size);
    hash.Add(e.mtime);
  }
  return hash.value();
}

// ---------------------------------------------------------------------------
// Names and folders.

// The names of the subfolders of `dir` (links followed) not starting with '.',
// sorted; nullopt (reported) past `max` of them, or past kMaxEntries entries
// of any kind, so a folder of a million files is not listed to the end.
std::optional<std::vector<std::string>> Subfolders(const fs::path& dir, size_t max, Diag& diag,
                                                  std::string_view what) {
  const size_t max_entries = std::max(kMaxEntries, max);
  std::vector<std::string> out;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  for (size_t seen = 0; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    if (++seen > max_entries) {
      diag.Here("more than " + std::to_string(max_entries) + " entries");
      return std::nullopt;
    }
    const std::string name = it->path().filename().string();
    std::error_code ignored;
    if (name.starts_with('.') || !it->is_directory(ignored)) continue;
    if (out.size() == max) {
      diag.Here("more than " + std::to_string(max) + " " + std::string(what));
      return std::nullopt;
    }
    out.push_back(name);
  }
  if (ec) {
    diag.Here("cannot be listed: " + ec.message());
    return std::nullopt;
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::optional<Folders> ListFolders(const fs::path& dir, Diag& diag) {
  auto names = Subfolders(dir, kMaxEntries, diag, "folders");
  if (!names) return std::nullopt;
  Folders out;
  for (const std::string& name : *names) {
    if (auto v = VersionNumber(name)) out.versions.push_back(*v);
    else out.others.push_back(name);
  }
  std::sort(out.versions.begin(), out.versions.end());
  return out;
}

// A mix or a remote (kserve) model has no version folders; any other needs one.
void CheckFolders(const Folders& folders, const ModelConfig& m, Diag& folder) {
  if (m.is_mix() || m.is_remote()) {
    const std::string kind = m.is_mix() ? "a mix" : "a kserve model (its versions are the remote's)";
    for (int64_t v : folders.versions) folder.Here(kind + " has no version folders (found '" + std::to_string(v) + "')");
    for (const std::string& other : folders.others) folder.Here(kind + " has no version folders (found '" + other + "')");
    return;
  }
  for (const std::string& other : folders.others) {
    folder.Here("bad version folder '" + other + "' (version folders are positive integers: 1, 2, ...)");
  }
  if (folders.versions.empty() && folders.others.empty()) {
    folder.Here("no version folder (versions are folders named 1, 2, ...)");
  }
}

// ---------------------------------------------------------------------------
// Versions

// Reads one served version's artifacts; false when it has errors (reported).
bool ScanVersion(const HouseLimits& limits, const Diag& model_diag, const ModelConfig& m,
                 VersionConfig* v) {
  if (m.is_remote()) return true;  // nothing here: model.toml's fingerprint covers it
  Diag folder = model_diag.ForVersion(v->number, Shown(v->dir));
  if (auto fingerprint = FolderFingerprint(v->dir, folder)) v->fingerprint = *fingerprint;
  const fs::path artifact = v->dir / "simulated.toml";
  Diag diag = model_diag.ForVersion(v->number, Shown(artifact));
  v->simulated.model = m.name;
  v->simulated.replicas = m.replicas;
  if (m.is_simulated()) {
    ReadSimulated(artifact, limits, diag, &v->simulated);
  } else if (auto it = Artifacts().find(m.backend); it != Artifacts().end()) {
    for (const std::string& name : it->second) {  // the backend checks their contents when it loads
      std::error_code ec;
      if (!fs::exists(v->dir / name, ec)) {
        model_diag.ForVersion(v->number, Shown(v->dir / name)).Here("missing artifact (a " + m.backend + " version needs it)");
        return false;
      }
    }
  }
  return folder.count() + diag.count() == 0;
}

// Keeps the versions without errors; a model left with none is in error as
// a whole. The weights stay as written: a reload that keeps a version whose
// folder broke serves it at its weight (a weight of no served version
// routes nothing).
void ScanVersions(const HouseLimits& limits, Diag& folder, ModelConfig* m) {
  if (m->versions.empty()) return;  // no folder or a bad policy: already reported
  std::vector<VersionConfig> valid;
  for (VersionConfig& v : m->versions) {
    if (ScanVersion(limits, folder, *m, &v)) valid.push_back(std::move(v));
  }
  m->versions = std::move(valid);
  if (m->versions.empty()) folder.Here("no loadable version");
}

// The warnings of a valid model's model.toml (parsed into `table`): keys
// read and checked but not acted on yet, each with what the server does
// instead, and keys under a deprecated name (docs/house.md, "Keys not acted
// on yet" and "Deprecated keys").
void Warn(const toml::table& table, const ModelConfig& m, const std::string& file,
          std::vector<HouseWarning>* warnings) {
  struct Key {
    std::string_view key;
    std::string why;
  };
  static const Key kKeys[] = {
      {"lag_target_ms", "lag_target_ms is not acted on by the server yet, only by tbms tune (its default --lag-ms)"},
      {kDeprecatedReplicasKey,
       std::string(kDeprecatedReplicasKey) + " is deprecated, use " + std::string(kReplicasKey)},
  };
  for (const Key& k : kKeys) {
    if (k.key == "lag_target_ms" && m.adaptive_batching) continue;  // the online tuner holds it
    const toml::node* n = table.get(k.key);
    if (n == nullptr) continue;
    const toml::source_position at = n->source().begin;
    const std::string where = at.line == 0 ? file + ": "
                                           : file + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": ";
    warnings->push_back({m.name, std::string(k.key),
                         where + "model '" + m.name + "': " + k.why + " (see docs/house.md)"});
  }
}

// Scans one model folder; nullopt when it has model-wide errors (reported).
// A mix's member positions go to `mix`.
std::optional<ModelConfig> ScanModel(const fs::path& house, const std::string& name,
                                     const HouseLimits& limits, std::vector<HouseError>* errors,
                                     std::vector<HouseWarning>* warnings, ModelSource* source) {
  ModelConfig m;
  m.name = name;
  m.dir = house / name;
  Diag folder(errors, name, 0, Shown(m.dir));
  if (!IsValidName(name)) {
    folder.Here("bad model name '" + name + "' (" + std::string(kNameRule) + ")");
    return std::nullopt;
  }
  const fs::path file = m.dir / "model.toml";
  Diag diag = folder.For(Shown(file));
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    diag.Here("missing file (every model folder needs one)");
    return std::nullopt;
  }
  auto folders = ListFolders(m.dir, folder);
  std::string text;
  auto table = LoadToml(file, limits, diag, &text);
  if (!table || !folders) return std::nullopt;
  Fnv1a hash;
  hash.Add(text);
  m.fingerprint = hash.value();
  ReadModel(*table, *folders, limits, diag, &m, source);
  CheckFolders(*folders, m, folder);
  ScanVersions(limits, folder, &m);
  if (diag.count() + folder.count() > 0) return std::nullopt;
  Warn(*table, m, diag.file(), warnings);
  return m;
}

// ---------------------------------------------------------------------------
// The house as a whole: mixes' members, instances' tasks.

// What the model scans leave for the house-wide checks.
struct Found {
  std::set<std::string, std::less<>> broken;  // model folders with model-wide errors
  std::map<std::string, ModelSource, std::less<>> sources;  // of the models without errors
};

using ModelsByName = std::map<std::string_view, const ModelConfig*>;

// Depth first along mix members: true when `target` is reached, with the
// way there in `path`. Each mix is entered once, so it ends.
bool Reaches(const ModelConfig& from, std::string_view target, const ModelsByName& models,
             std::set<std::string_view>* seen, std::vector<std::string_view>* path) {
  for (const std::string& member : from.members) {
    auto it = models.find(member);
    if (it == models.end() || !it->second->is_mix()) continue;
    path->push_back(member);
    if (member == target) return true;
    if (seen->insert(member).second && Reaches(*it->second, target, models, seen, path)) return true;
    path->pop_back();
  }
  return false;
}

// Reports `mix` if it is on a cycle ("mix cycle: mix1 -> mix2 -> mix1").
bool OnCycle(const ModelConfig& mix, const ModelsByName& models, const ModelSource& source, Diag& diag) {
  std::set<std::string_view> seen;
  std::vector<std::string_view> path{mix.name};
  if (!Reaches(mix, mix.name, models, &seen, &path)) return false;
  std::string text;
  for (std::string_view name : path) text += (text.empty() ? "" : " -> ") + std::string(name);
  const auto first = std::find(mix.members.begin(), mix.members.end(), path[1]) - mix.members.begin();
  diag.At(source.at[static_cast<size_t>(first)], "mix cycle: " + text);
  return true;
}

// How deep a mix nests (itself included) and how many models it runs in
// all; only for mixes without a cycle below them.
struct MixSize {
  int depth = 0;
  size_t models = 0;
};
MixSize SizeOf(const ModelConfig& mix, const ModelsByName& models, std::map<std::string_view, MixSize>* memo) {
  if (auto it = memo->find(mix.name); it != memo->end()) return it->second;
  MixSize size{1, 0};
  for (const std::string& name : mix.members) {
    const ModelConfig* member = models.at(name);
    if (!member->is_mix()) {
      ++size.models;
      continue;
    }
    const MixSize below = SizeOf(*member, models, memo);
    size.depth = std::max(size.depth, below.depth + 1);
    size.models += below.models;
  }
  return (*memo)[mix.name] = size;
}

// The limits of mixes (limits.h), for mixes whose members are all sound.
void CheckMixSizes(const ModelsByName& models, const std::set<std::string, std::less<>>& bad, Found* found,
                   HouseScan* scan, std::set<std::string, std::less<>>* too_big) {
  std::map<std::string_view, MixSize> memo;
  for (const ModelConfig& mix : scan->config.models) {
    if (!mix.is_mix() || bad.contains(mix.name)) continue;
    const MixSize size = SizeOf(mix, models, &memo);
    const ModelSource& source = found->sources[mix.name];
    Diag diag(&scan->errors, mix.name, 0, source.file);
    const toml::source_position at = source.at.empty() ? toml::source_position{} : source.at[0];
    if (size.depth > limits::kMaxMixDepth) {
      diag.At(at, "mixes nest " + std::to_string(size.depth) + " deep here, at most " +
                      std::to_string(limits::kMaxMixDepth));
    }
    if (size.models > limits::kMaxMixModels) {
      diag.At(at, "this mix runs " + std::to_string(size.models) + " models in all, at most " +
                      std::to_string(limits::kMaxMixModels));
    }
    if (diag.count() > 0) too_big->insert(mix.name);
  }
}

// Mixes whose members are missing or in error, or that contain themselves,
// are in error; so are the mixes that contain those, and so on; and so is
// a mix past the limits of nesting and size.
void CheckMixes(HouseScan* scan, Found* found) {
  ModelsByName models;
  for (const ModelConfig& m : scan->config.models) models[m.name] = &m;
  auto diag_of = [&](const ModelConfig& mix) {
    return Diag(&scan->errors, mix.name, 0, found->sources[mix.name].file);
  };
  std::set<std::string, std::less<>> bad;
  for (const ModelConfig& mix : scan->config.models) {
    if (!mix.is_mix()) continue;
    Diag diag = diag_of(mix);
    const ModelSource& source = found->sources[mix.name];
    for (size_t i = 0; i < mix.members.size(); ++i) {
      const std::string& member = mix.members[i];
      if (found->broken.contains(member)) {
        diag.At(source.at[i], "member '" + member + "' has errors");
      } else if (!models.contains(member)) {
        diag.At(source.at[i], "member '" + member + "' is not in the house");
      }
    }
    OnCycle(mix, models, source, diag);
    if (diag.count() > 0) bad.insert(mix.name);
  }
  for (bool changed = true; changed;) {
    changed = false;
    for (const ModelConfig& mix : scan->config.models) {
      if (!mix.is_mix() || bad.contains(mix.name)) continue;
      Diag diag = diag_of(mix);
      for (size_t i = 0; i < mix.members.size(); ++i) {
        if (bad.contains(mix.members[i])) {
          diag.At(found->sources[mix.name].at[i], "member '" + mix.members[i] + "' has errors");
        }
      }
      if (diag.count() > 0) {
        bad.insert(mix.name);
        changed = true;
      }
    }
  }
  std::set<std::string, std::less<>> too_big;  // its containers are too big as well
  CheckMixSizes(models, bad, found, scan, &too_big);
  bad.insert(too_big.begin(), too_big.end());
  std::erase_if(scan->config.models, [&](const ModelConfig& m) { return bad.contains(m.name); });
  found->broken.insert(bad.begin(), bad.end());
}

// Each name must be a model of the house without errors and, when the
// instance lists its models (`allowed` not empty), one of them. A missing or
// broken model is a HouseError::names_model: the name stays, and the task or
// instance stays valid (a reload must not hold back its keys for a model).
void CheckModelNames(const std::vector<std::string>& names, const std::vector<toml::source_position>& at,
                     const HouseConfig& house, const Found& found, const std::vector<std::string>& allowed,
                     Diag& diag) {
  Diag missing = diag.ForModelNames();
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (!allowed.empty() && std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      diag.At(at[i], "model '" + name + "' is not among the instance's models");
    } else if (found.broken.contains(name)) {
      missing.At(at[i], "model '" + name + "' has errors");
    } else if (std::none_of(house.models.begin(), house.models.end(),
                            [&](const ModelConfig& m) { return m.name == name; })) {
      missing.At(at[i], "model '" + name + "' is not in the house");
    }
  }
}

// A task, or nullopt when it has errors (reported).
std::optional<TaskConfig> ReadTask(const toml::key& key, const toml::node& node, const HouseConfig& house,
                                   const Found& found, const std::vector<std::string>& allowed, Diag& diag) {
  const std::string name(key.str());
  if (name == kOverflowRow) {
    diag.At(key.source(), "task name '" + name + "' is the report's own (its rows past the report's caps)");
    return std::nullopt;
  }
  if (!IsValidName(name)) {
    diag.At(key.source(), "bad task name '" + name + "' (" + std::string(kNameRule) + ")");
    return std::nullopt;
  }
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    WrongType(node, "task '" + name + "'", "a table", diag);
    return std::nullopt;
  }
  const size_t before = diag.count();
  Fields f(*table, "task '" + name + "'", diag);
  f.AllowOnly({"models", "tloc", "crossRequest", "crossLag", "priority", "hedge"});
  TaskConfig task;
  task.name = name;
  if (f.Require("models")) {
    if (const toml::array* list = f.Array("models")) {
      std::vector<toml::source_position> at;
      task.models = ReadNames(*list, "models", diag, &at);
      CheckModelNames(task.models, at, house, found, allowed, diag);
    }
  }
  if (f.Require("tloc")) {
    if (auto v = f.Ms("tloc", limits::kMaxTloc)) {
      if (*v <= Duration(0)) diag.At(f.Get("tloc")->source(), "'tloc' must be more than 0");
      task.tloc = *v;
    }
  }
  // The bounds a try has at the edge and in the broker (tbms/broker/limits.h).
  if (auto v = f.Int("crossRequest", 0, limits::kMaxCrossRequest)) task.cross_request = static_cast<int>(*v);
  if (auto v = f.Ms("crossLag", limits::kMaxCrossLag)) task.cross_lag = *v;
  if (auto v = f.Int("priority", -limits::kMaxPriority, limits::kMaxPriority)) {
    task.priority = static_cast<int>(*v);
  }
  if (auto v = f.String("hedge")) {
    if (const std::optional<Hedge> hedge = ParseHedge(*v)) {
      task.hedge = *hedge;
    } else {
      diag.At(f.Get("hedge")->source(), "'hedge' must be " + std::string(kHedgeChoices));
    }
  }
  if (diag.count() != before) return std::nullopt;
  return task;
}

// An instance with its valid tasks, or nullopt when it is in error itself.
std::optional<InstanceConfig> ReadInstance(const toml::key& key, const toml::node& node, const HouseConfig& house,
                                           const Found& found, Diag& diag, house_detail::KeyReader& keys) {
  const std::string name(key.str());
  if (!IsValidName(name)) {
    diag.At(key.source(), "bad instance name '" + name + "' (" + std::string(kNameRule) + ")");
    return std::nullopt;
  }
  if (name == kInfersInstance || name == kOverflowRow) {
    diag.At(key.source(), "instance name '" + name + "' is the report's own (" +
                              (name == kInfersInstance ? "admin and unsigned v2 infers" : "its rows past the report's caps") +
                              ")");
    return std::nullopt;
  }
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    WrongType(node, "instance '" + name + "'", "a table", diag);
    return std::nullopt;
  }
  Fields f(*table, "instance '" + name + "'", diag);
  f.AllowOnly({"models", "keys", "tasks", "max_concurrent", "max_rps"});
  InstanceConfig instance;
  instance.name = name;
  if (const toml::array* list = f.Array("models")) {
    std::vector<toml::source_position> at;
    instance.models = ReadNames(*list, "models", diag, &at);
    CheckModelNames(instance.models, at, house, found, {}, diag);
  }
  if (const toml::array* list = f.Array("keys")) {
    instance.keys = keys.Read(*list, name, diag);
  }
  if (auto v = f.Int("max_concurrent", 1, 1000000)) instance.max_concurrent = static_cast<int>(*v);
  if (auto v = f.Number("max_rps", 0.001, 1e6)) instance.max_rps = *v;
  if (const toml::table* tasks = f.Table("tasks")) {
    for (const auto& [task_key, task_node] : *tasks) {
      auto task = ReadTask(task_key, task_node, house, found, instance.models, diag);
      if (task) instance.tasks.emplace(task->name, std::move(*task));
    }
  }
  return instance;
}

void ScanInstances(const fs::path& house, const HouseLimits& limits, const Found& found,
                   HouseScan* scan) {
  const fs::path file = house / "instances.toml";
  std::error_code ec;
  if (!fs::exists(file, ec)) return;  // a house of models only
  Diag diag(&scan->errors, "", 0, Shown(file), HouseError::Source::kInstances);
  auto table = LoadToml(file, limits, diag);
  if (!table) {
    scan->instances_read = false;
    return;
  }
  Fields f(*table, "instances.toml", diag, /*is_file=*/true);
  f.AllowOnly({"admin", "instances"});
  house_detail::KeyReader keys{house, limits.read_secrets, {}};
  if (const toml::table* admin = f.Table("admin")) {
    Fields a(*admin, "[admin]", diag);
    a.AllowOnly({"keys"});
    if (const toml::array* list = a.Array("keys")) scan->config.admin_keys = keys.Read(*list, "", diag);
  }
  const toml::table* instances = f.Table("instances");
  if (instances == nullptr) return;
  for (const auto& [key, node] : *instances) {
    auto instance = ReadInstance(key, node, scan->config, found, diag, keys);
    if (instance) scan->config.instances.push_back(std::move(*instance));
  }
}

}  // namespace

HouseScan ScanHouse(const fs::path& dir, const HouseLimits& limits) {
  HouseScan scan;
  scan.config.dir = dir;
  Diag house(&scan.errors, "", 0, Shown(dir), HouseError::Source::kFolder);
  std::error_code ec;
  scan.folder_read = false;  // until its models are listed
  if (!fs::exists(dir, ec)) {
    house.Here("no such directory");
    return scan;
  }
  if (!fs::is_directory(dir, ec)) {
    house.Here("not a directory");
    return scan;
  }
  auto names = Subfolders(dir, limits.max_models, house, "model folders");
  if (!names) return scan;
  scan.folder_read = true;
  Found found;
  for (const std::string& name : *names) {  // sorted, so config.models is too
    ModelSource source;
    auto model = ScanModel(dir, name, limits, &scan.errors, &scan.warnings, &source);
    if (!model) {
      found.broken.insert(name);
      continue;
    }
    found.sources[name] = std::move(source);
    scan.config.models.push_back(std::move(*model));
  }
  house_detail::PlaceModels(house_detail::ReadDevices(dir, limits, &scan.errors), found.sources,
                            limits.max_replicas_per_model, &scan, &found.broken);
  CheckMixes(&scan, &found);
  std::erase_if(scan.warnings, [&](const HouseWarning& w) { return found.broken.contains(w.model); });
  ScanInstances(dir, limits, found, &scan);
  return scan;
}

StatusOr<HouseConfig> LoadHouse(const fs::path& dir, const HouseLimits& limits,
                                std::vector<HouseWarning>* warnings) {
  HouseScan scan = ScanHouse(dir, limits);
  if (warnings != nullptr) *warnings = std::move(scan.warnings);
  if (scan.errors.empty()) return std::move(scan.config);
  std::string message;
  for (const HouseError& e : scan.errors) message += (message.empty() ? "" : "\n") + e.message;
  return InvalidArgument(std::move(message));
}

}  // namespace tbms
