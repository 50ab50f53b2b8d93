// devices.toml and the placement of models' replicas on its devices
// (docs/house.md, "Devices").
#include "tbms/house/devices.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "placement.h"
#include "tbms/common/names.h"

namespace tbms {

std::string_view DeviceKindName(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kGpu: return "gpu";
    case DeviceKind::kRemote: return "remote";
  }
  return "cpu";
}

double DeviceConfig::capacity() const {
  if (kind == DeviceKind::kGpu) return 1;
  if (kind == DeviceKind::kCpu) return static_cast<double>(cores.size());
  return 0;
}

namespace {
constexpr int kMaxGpuIndex = 63;
}  // namespace

bool ImplicitDevice(std::string_view name, DeviceConfig* out) {
  DeviceConfig d;
  d.name = std::string(name);
  if (name == "cpu") {
    *out = d;
    return true;
  }
  d.kind = DeviceKind::kGpu;
  if (name == "gpu") {
    *out = d;
    return true;
  }
  if (!name.starts_with("gpu:") || name.size() == 4 || name.size() > 8) return false;
  const std::string_view digits = name.substr(4);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d.gpu_index);
  if (ec != std::errc() || end != digits.data() + digits.size()) return false;
  if (d.gpu_index < 0 || d.gpu_index > kMaxGpuIndex) return false;
  *out = d;
  return true;
}

bool ParseCoreList(std::string_view text, int max_core, std::vector<int>* cores, std::string* error) {
  cores->clear();
  auto number = [&](std::string_view s, int* v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
    return ec == std::errc() && end == s.data() + s.size() && !s.empty();
  };
  std::set<int> seen;
  for (bool more = !text.empty(); more;) {  // a comma always has an item after it ("0-1," is an error)
    const size_t comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    more = comma != std::string_view::npos;
    text = more ? text.substr(comma + 1) : std::string_view();
    const size_t dash = item.find('-');
    int lo = 0, hi = 0;
    const bool ok = dash == std::string_view::npos ? number(item, &lo) && number(item, &hi)
                                                   : number(item.substr(0, dash), &lo) && number(item.substr(dash + 1), &hi);
    if (!ok || lo > hi) {
      *error = "'" + std::string(item) + "' is not a core or a range of cores (e.g. \"0-3,8\")";
      return false;
    }
    if (hi > max_core) {
      *error = "core " + std::to_string(hi) + " is above " + std::to_string(max_core);
      return false;
    }
    for (int c = lo; c <= hi; ++c) {
      if (!seen.insert(c).second) {
        *error = "core " + std::to_string(c) + " is listed twice";
        return false;
      }
      cores->push_back(c);
    }
  }
  if (cores->empty()) *error = "no cores listed";
  return !cores->empty();
}

namespace house_detail {
namespace {

constexpr size_t kMaxDevices = 256;
constexpr int kMaxCore = 1023;      // CPU_SETSIZE - 1
constexpr int64_t kMaxMemoryMib = int64_t{1} << 24;  // 16 TiB
constexpr size_t kMaxGroups = 16;

std::optional<DeviceConfig> ReadDevice(std::string_view name, const toml::table& table, Diag& diag) {
  const std::string what = "device '" + std::string(name) + "'";
  Fields f(table, what, diag);
  DeviceConfig d;
  d.name = std::string(name);
  d.declared = true;
  if (!f.Require("kind")) return std::nullopt;
  const auto kind = f.String("kind");
  if (!kind) return std::nullopt;
  if (*kind == "cpu") {
    f.AllowOnly({"kind", "cores"});
    if (auto cores = f.String("cores")) {
      std::string error;
      if (!ParseCoreList(*cores, kMaxCore, &d.cores, &error)) diag.At(f.Get("cores")->source(), what + ": " + error);
    }
  } else if (*kind == "gpu") {
    d.kind = DeviceKind::kGpu;
    f.AllowOnly({"kind", "index", "memory_mib"});
    if (auto v = f.Int("index", 0, kMaxGpuIndex)) d.gpu_index = static_cast<int>(*v);
    if (auto v = f.Int("memory_mib", 1, kMaxMemoryMib)) d.memory_mib = *v;
  } else if (*kind == "remote") {
    d.kind = DeviceKind::kRemote;
    f.AllowOnly({"kind", "endpoints"});
    if (f.Require("endpoints")) {
      if (const toml::array* list = f.Array("endpoints")) d.endpoints = ReadEndpoints(*list, what + ": ", diag);
    }
  } else {
    diag.At(f.Get("kind")->source(), what + ": kind must be \"cpu\", \"gpu\" or \"remote\", not '" + *kind + "'");
    return std::nullopt;
  }
  return d;
}

// Two devices may not claim one CUDA device or one core: capacity has one owner.
void CheckOverlaps(const std::vector<DeviceConfig>& devices, const std::vector<toml::source_position>& at, Diag& diag) {
  std::map<int, std::string> gpus, cores;
  for (size_t i = 0; i < devices.size(); ++i) {
    const DeviceConfig& d = devices[i];
    if (d.kind == DeviceKind::kGpu) {
      auto [it, fresh] = gpus.emplace(d.gpu_index, d.name);
      if (!fresh) {
        diag.At(at[i], "device '" + d.name + "': CUDA index " + std::to_string(d.gpu_index) + " is device '" +
                           it->second + "' already (share one GPU with share_pct in the models' instance groups)");
      }
    }
    for (int c : d.cores) {
      auto [it, fresh] = cores.emplace(c, d.name);
      if (!fresh) {
        diag.At(at[i], "device '" + d.name + "': core " + std::to_string(c) + " is device '" + it->second + "''s already");
        break;
      }
    }
  }
}

}  // namespace

DeviceTable ReadDevices(const std::filesystem::path& house, const HouseLimits& limits, std::vector<HouseError>* errors) {
  DeviceTable out;
  const std::filesystem::path file = house / "devices.toml";
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return out;
  Diag diag(errors, "", 0, Shown(file), HouseError::Source::kDevices);
  auto table = LoadToml(file, limits, diag);
  if (!table) {
    out.broken = true;
    return out;
  }
  if (table->size() > kMaxDevices) diag.Here("at most " + std::to_string(kMaxDevices) + " devices");
  std::vector<toml::source_position> at;
  for (const auto& [key, node] : *table) {
    const std::string name(key.str());
    if (!IsValidName(name)) {
      diag.At(key.source(), "bad device name '" + name + "' (" + std::string(kNameRule) + ")");
      continue;
    }
    const toml::table* t = node.as_table();
    if (t == nullptr) {
      WrongType(node, "device '" + name + "'", "a table ([" + name + "] with kind = ...)", diag);
      continue;
    }
    if (auto d = ReadDevice(name, *t, diag)) {
      out.devices.push_back(std::move(*d));
      at.push_back(key.source().begin);
    }
  }
  CheckOverlaps(out.devices, at, diag);
  out.broken = diag.count() > 0;
  return out;
}

const DeviceConfig* DeviceTable::Find(std::string_view name) const {
  for (const DeviceConfig& d : devices) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

void ReadInstanceGroups(const toml::array& list, const HouseLimits& limits, Diag& diag, ModelConfig* m,
                        ModelSource* source) {
  if (list.empty() || list.size() > kMaxGroups) {
    diag.At(list.source(), "'instance_group' must list 1 to " + std::to_string(kMaxGroups) + " groups");
    return;
  }
  int64_t total = 0;
  for (const toml::node& n : list) {
    const toml::table* t = n.as_table();
    if (t == nullptr) {
      WrongType(n, ItemOf("instance_group"), "a table (count, device, share_pct, memory_mib)", diag);
      continue;
    }
    Fields f(*t, "[[instance_group]]", diag);
    f.AllowOnly({"count", "device", "share_pct", "memory_mib"});
    ReplicaGroup g;
    if (auto v = f.Int("count", 1, limits.max_replicas_per_model)) g.count = static_cast<int>(*v);
    if (!f.Require("device")) continue;
    auto device = f.String("device");
    if (!device) continue;
    g.device.name = *device;
    if (auto v = f.Number("share_pct", 0, 100)) {
      if (*v == 0) diag.At(f.Get("share_pct")->source(), "'share_pct' must be above 0 (leave it out for no limit)");
      g.share = *v / 100;
    }
    if (auto v = f.Int("memory_mib", 1, kMaxMemoryMib)) g.memory_mib = *v;
    const bool twice = std::any_of(m->groups.begin(), m->groups.end(),
                                   [&](const ReplicaGroup& o) { return o.device.name == g.device.name; });
    if (twice) {
      diag.At(f.Get("device")->source(), "two instance groups on device '" + g.device.name + "': give one its count");
      continue;
    }
    total += g.count;
    m->groups.push_back(std::move(g));
    source->group_at.push_back(f.Get("device")->source().begin);
  }
  if (total > limits.max_replicas_per_model) {
    diag.At(list.source(), "the instance groups add up to " + std::to_string(total) + " replicas, at most " +
                               std::to_string(limits.max_replicas_per_model) + " are allowed");
  }
  m->replicas = static_cast<int>(std::max<int64_t>(1, total));
}

}  // namespace house_detail
}  // namespace tbms

namespace tbms::house_detail {
namespace {

std::string Describe(const DeviceConfig& d) {
  std::string s = d.name + "|" + std::string(DeviceKindName(d.kind)) + "|" + std::to_string(d.gpu_index) + "|" +
                  std::to_string(d.memory_mib);
  for (int c : d.cores) s += "," + std::to_string(c);
  for (const std::string& e : d.endpoints) s += ";" + e;
  return s;
}

std::string Listed(const DeviceTable& devices) {
  std::string names;
  for (const DeviceConfig& d : devices.devices) names += (names.empty() ? "" : ", ") + d.name;
  return names.empty() ? "devices.toml declares none; use cpu, gpu or gpu:N"
                       : "devices.toml declares " + names + "; or use cpu, gpu, gpu:N";
}

// One group's device, resolved and checked against what the model is.
bool Resolve(const DeviceTable& devices, const toml::source_position& at, Diag& diag, ModelConfig& m,
             ReplicaGroup& g) {
  const std::string name = g.device.name;
  if (const DeviceConfig* d = devices.Find(name)) {
    g.device = *d;
  } else if (!ImplicitDevice(name, &g.device)) {
    if (name == "remote" && m.is_remote()) {
      g.device = {.name = name, .kind = DeviceKind::kRemote};
    } else {
      diag.At(at, devices.broken ? "device '" + name + "' is not known (devices.toml has errors)"
                                 : "unknown device '" + name + "' (" + Listed(devices) + ")");
      return false;
    }
  }
  const DeviceConfig& d = g.device;
  if ((d.kind == DeviceKind::kRemote) != m.is_remote()) {
    diag.At(at, m.is_remote() ? "a kserve model runs on a remote device, not on " + std::string(DeviceKindName(d.kind)) +
                                    " device '" + name + "'"
                              : "device '" + name + "' is remote: only a kserve model runs there");
    return false;
  }
  if ((g.share > 0 || g.memory_mib > 0) && d.kind != DeviceKind::kGpu) {
    diag.At(at, "share_pct and memory_mib apply to a gpu device, not to " + std::string(DeviceKindName(d.kind)) +
                    " device '" + name + "'");
    return false;
  }
  if (g.memory_mib > 0 && d.memory_mib == 0) {
    diag.At(at, "device '" + name + "' declares no memory_mib to reserve " + std::to_string(g.memory_mib) + " MiB from");
    return false;
  }
  return true;
}

// A kserve model on a remote device calls the device's endpoints, `count`
// batches at once on each. Without an instance group it calls [remote]'s.
bool TakeEndpoints(const toml::source_position& at, bool old_style, int max_replicas, Diag& diag, ModelConfig& m) {
  const ReplicaGroup& g = m.groups.front();
  if (old_style) return true;
  if (!g.device.declared) {
    diag.At(at, "device '" + g.device.name + "' is not declared: a kserve model's instance group names a remote "
                "device of devices.toml (its endpoints); or give [remote] endpoints and no instance group");
    return false;
  }
  if (m.groups.size() > 1) {
    diag.At(at, "a kserve model has one instance group (its remote device)");
    return false;
  }
  if (!m.remote.endpoints.empty()) {
    diag.At(at, "give [remote] endpoints or an instance group on a remote device, not both");
    return false;
  }
  const int64_t replicas = static_cast<int64_t>(g.device.endpoints.size()) * g.count;
  if (replicas > max_replicas) {
    diag.At(at, "device '" + g.device.name + "''s endpoints x count is " + std::to_string(replicas) +
                    " replicas, at most " + std::to_string(max_replicas) + " are allowed");
    return false;
  }
  m.remote.endpoints = g.device.endpoints;
  m.remote.in_flight = g.count;
  m.replicas = static_cast<int>(replicas);
  return true;
}

bool PlaceModel(const DeviceTable& devices, const ModelSource& source, int max_replicas, HouseScan* scan,
                ModelConfig& m) {
  Diag diag(&scan->errors, m.name, 0, source.file);
  const bool old_style = m.groups.empty();
  if (old_style) m.groups.push_back({.count = m.replicas, .device = {.name = m.device}});
  bool ok = true;
  for (size_t i = 0; i < m.groups.size(); ++i) {
    const toml::source_position at = old_style ? source.device_at : source.group_at[i];
    ok = Resolve(devices, at, diag, m, m.groups[i]) && ok;
  }
  if (!ok) return false;
  const toml::source_position first = old_style ? source.device_at : source.group_at[0];
  if (m.is_remote() && !TakeEndpoints(first, old_style, max_replicas, diag, m)) return false;
  if (m.backend == "embedding" && m.groups.size() > 1) {
    diag.At(source.group_at[1], "an embedding model's replicas share one matrix product: place them on one device");
    return false;
  }
  for (size_t i = 0; i < m.groups.size(); ++i) {
    const bool cpu_only = m.backend == "keysearch" || m.backend == "bayes" || m.backend == "svm";
    if (!cpu_only || m.groups[i].device.kind != DeviceKind::kGpu) continue;
    const toml::source_position at = old_style ? source.device_at : source.group_at[i];
    const std::string where = source.file + (at.line ? ":" + std::to_string(at.line) + ":" + std::to_string(at.column) : "");
    scan->warnings.push_back({m.name, old_style ? "device" : "instance_group",
                              where + ": model '" + m.name + "': device '" + m.groups[i].device.name + "' is a GPU, but " +
                                  m.backend + " has no GPU path: its replicas run on the CPU (the device's share and "
                                  "occupancy still count them; see docs/house.md)"});
  }
  m.device = m.groups.front().device.name;
  std::string described;
  for (const ReplicaGroup& g : m.groups) described += Describe(g.device) + "#";
  m.fingerprint ^= std::hash<std::string>{}(described) * 0x9E3779B97F4A7C15ull;
  return true;
}

// Per device: the time shares and the memory of the models placed there.
// What a device's capacity is counted under: a GPU by its CUDA index, so
// its names (gpu, gpu:0, a declared device) share one budget.
std::string CapacityKey(const DeviceConfig& d) {
  return d.kind == DeviceKind::kGpu ? "gpu:" + std::to_string(d.gpu_index) : d.name;
}

void CheckCapacity(const std::map<std::string, ModelSource, std::less<>>& sources, HouseScan* scan,
                   std::set<std::string, std::less<>>* broken) {
  struct Use {
    std::vector<const ModelConfig*> models;
    std::set<std::string> names;
    double share = 0;
    int64_t memory = 0, capacity = 0;
    std::string shares, memories;
  };
  std::map<std::string, Use> use;
  for (const ModelConfig& m : scan->config.models) {
    for (const ReplicaGroup& g : m.groups) {
      Use& u = use[CapacityKey(g.device)];
      if (std::find(u.models.begin(), u.models.end(), &m) == u.models.end()) u.models.push_back(&m);
      u.names.insert(g.device.name);
      u.capacity = std::max(u.capacity, g.device.memory_mib);
      if (g.share > 0) {
        u.share += g.share;
        u.shares += (u.shares.empty() ? "" : ", ") + m.name + " " + std::to_string(static_cast<int>(g.share * 100 + 0.5)) + "%";
      }
      if (g.memory_mib > 0) {
        u.memory += g.count * g.memory_mib;
        u.memories += std::string(u.memories.empty() ? "" : " + ") + m.name + " " + std::to_string(g.count) + " x " +
                      std::to_string(g.memory_mib) + " MiB";
      }
    }
  }
  for (const auto& [key, u] : use) {
    std::string device = "device '" + *u.names.begin() + "'";
    if (u.names.size() > 1) {  // aliases of one GPU
      device = "GPU " + key.substr(4) + " (";
      for (const std::string& n : u.names) device += (n == *u.names.begin() ? "" : ", ") + n;
      device += ")";
    }
    std::string problem;
    if (u.share > 1 + 1e-9) {
      problem = device + ": time shares add up to " + std::to_string(static_cast<int>(u.share * 100 + 0.5)) +
                "% (" + u.shares + "), at most 100%";
    } else if (u.memory > u.capacity && u.capacity > 0) {
      problem = device + ": memory over capacity: " + u.memories + " = " + std::to_string(u.memory) +
                " MiB of " + std::to_string(u.capacity) + " MiB";
    }
    if (problem.empty()) continue;
    for (const ModelConfig* m : u.models) {
      const ModelSource& source = sources.at(m->name);
      size_t i = 0;  // the group on this device
      while (i < m->groups.size() && CapacityKey(m->groups[i].device) != key) ++i;
      Diag(&scan->errors, m->name, 0, source.file).At(i < source.group_at.size() ? source.group_at[i] : source.device_at, problem);
      broken->insert(m->name);
    }
  }
}

}  // namespace

void PlaceModels(const DeviceTable& devices, const std::map<std::string, ModelSource, std::less<>>& sources,
                 int max_replicas, HouseScan* scan, std::set<std::string, std::less<>>* broken) {
  for (ModelConfig& m : scan->config.models) {
    if (m.is_mix()) continue;
    if (!PlaceModel(devices, sources.at(m.name), max_replicas, scan, m)) broken->insert(m.name);
  }
  std::erase_if(scan->config.models, [&](const ModelConfig& m) { return broken->contains(m.name); });
  CheckCapacity(sources, scan, broken);
  std::erase_if(scan->config.models, [&](const ModelConfig& m) { return broken->contains(m.name); });
  scan->config.devices = devices.devices;
}

}  // namespace tbms::house_detail
