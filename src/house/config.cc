// Reading the model house: every file is read bounded, pre-scanned for
// hostile nesting, parsed with toml++ and checked key by key; each problem is
// reported where it is written and the scan goes on, so one run shows them all.
// The format is documented in docs/house.md.
#include "tbms/house/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <optional>
#include <set>
#include <span>
#include <string_view>

#include <toml++/toml.h>

namespace tbms {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxMs = 600'000;     // the longest time any key may give
constexpr int kMaxNesting = 64;        // toml++ recurses on dotted keys without a limit
constexpr size_t kMaxEntries = 10'000;  // per folder walk: model folders, version folders
constexpr size_t kMaxList = 32;        // models of a task, members of a mix
constexpr size_t kMaxTensors = 64;
constexpr size_t kMaxRank = 8;

std::string Shown(const fs::path& path) { return path.string(); }

// Shortest text that reads back as the same number, in plain notation for
// the magnitudes people write: 31.5, 600000, 1e+300, nan.
std::string Number(double v) {
  char buf[64];
  const auto format = std::abs(v) < 1e15 ? std::chars_format::fixed : std::chars_format::general;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
  return ec == std::errc() ? std::string(buf, end) : "?";
}

std::string Join(std::initializer_list<std::string_view> words) {
  std::string out;
  for (std::string_view w : words) out += (out.empty() ? "" : ", ") + std::string(w);
  return out;
}

// Where one file's (or folder's) problems go: the path shown first, then the
// line and column when the problem has one.
class Diag {
 public:
  Diag(std::vector<HouseError>* out, std::string model, int64_t version, std::string file)
      : out_(out), model_(std::move(model)), version_(version), file_(std::move(file)) {}

  void At(const toml::source_position& at, std::string_view message) {
    if (at.line == 0) return Here(message);
    Add(file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
        std::string(message));
  }
  void At(const toml::source_region& at, std::string_view message) { At(at.begin, message); }
  void Here(std::string_view message) { Add(file_ + ": " + std::string(message)); }

  size_t count() const { return count_; }
  const std::string& file() const { return file_; }
  Diag For(std::string file) const { return Diag(out_, model_, version_, std::move(file)); }
  Diag ForVersion(int64_t version, std::string file) const {
    return Diag(out_, model_, version, std::move(file));
  }

 private:
  void Add(std::string message) {
    out_->push_back({model_, version_, std::move(message)});
    ++count_;
  }

  std::vector<HouseError>* out_;
  std::string model_;
  int64_t version_;
  std::string file_;
  size_t count_ = 0;
};

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    default: return "nothing";
  }
}

void WrongType(const toml::node& node, std::string_view what, std::string_view want, Diag& diag) {
  diag.At(node.source(), std::string(what) + " must be " + std::string(want) + ", not " +
                             std::string(TypeName(node)));
}

// `what` names the value in messages: "'instances'", "an item of 'models'".
std::optional<int64_t> IntValue(const toml::node& node, std::string_view what, int64_t lo,
                                int64_t hi, Diag& diag) {
  const auto* v = node.as_integer();
  if (v == nullptr) {
    WrongType(node, what, "an integer", diag);
    return std::nullopt;
  }
  if (v->get() < lo || v->get() > hi) {
    diag.At(node.source(), std::string(what) + " must be in [" + std::to_string(lo) + ", " +
                               std::to_string(hi) + "], not " + std::to_string(v->get()));
    return std::nullopt;
  }
  return v->get();
}

// An integer or a float in [lo, hi] (NaN is out of every range).
std::optional<double> NumberValue(const toml::node& node, std::string_view what, double lo,
                                  double hi, Diag& diag) {
  std::optional<double> v;
  if (const auto* i = node.as_integer()) v = static_cast<double>(i->get());
  if (const auto* f = node.as_floating_point()) v = f->get();
  if (!v) {
    WrongType(node, what, "a number", diag);
    return std::nullopt;
  }
  if (!(*v >= lo && *v <= hi)) {
    diag.At(node.source(), std::string(what) + " must be in [" + Number(lo) + ", " + Number(hi) +
                               "], not " + Number(*v));
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> StringValue(const toml::node& node, std::string_view what, Diag& diag) {
  if (const auto* s = node.as_string()) return s->get();
  WrongType(node, what, "a string", diag);
  return std::nullopt;
}

std::string Quoted(std::string_view key) { return "'" + std::string(key) + "'"; }

// A name parsed into its enum by `parse` (ParseJitter, ParseAggregator, ...),
// whose message says what was expected.
template <typename T>
std::optional<T> Parsed(const toml::node& node, std::string_view what,
                        StatusOr<T> (*parse)(std::string_view), Diag& diag) {
  auto name = StringValue(node, what, diag);
  if (!name) return std::nullopt;
  auto value = parse(*name);
  if (value.ok()) return *value;
  diag.At(node.source(), value.status().message());
  return std::nullopt;
}

std::string ItemOf(std::string_view key) { return "an item of '" + std::string(key) + "'"; }

// Reads one TOML table's keys. Each getter returns nullopt when the key is
// absent or bad; a bad one is reported where it is written.
class Fields {
 public:
  // `what` names the table in messages: "model.toml", "[batching]", "task 'qa'".
  // A file's root table has no position of its own.
  Fields(const toml::table& table, std::string what, Diag& diag, bool is_file = false)
      : table_(table), what_(std::move(what)), diag_(diag), is_file_(is_file) {}

  void AllowOnly(std::initializer_list<std::string_view> known) const {
    for (const auto& [key, node] : table_) {
      if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
      diag_.At(key.source(), "unknown key '" + std::string(key.str()) + "' in " + what_ +
                                 " (expected " + Join(known) + ")");
    }
  }
  const toml::node* Get(std::string_view key) const { return table_.get(key); }
  bool Has(std::string_view key) const { return Get(key) != nullptr; }
  // Reports the key as missing; false if it is.
  bool Require(std::string_view key) const {
    if (Has(key)) return true;
    const std::string message = "missing key '" + std::string(key) + "' in " + what_;
    if (is_file_) {
      diag_.Here(message);
    } else {
      diag_.At(table_.source(), message);
    }
    return false;
  }
  std::optional<int64_t> Int(std::string_view key, int64_t lo, int64_t hi) const {
    const toml::node* n = Get(key);
    return n ? IntValue(*n, Quoted(key), lo, hi, diag_) : std::nullopt;
  }
  std::optional<double> Number(std::string_view key, double lo, double hi) const {
    const toml::node* n = Get(key);
    return n ? NumberValue(*n, Quoted(key), lo, hi, diag_) : std::nullopt;
  }
  std::optional<Duration> Ms(std::string_view key) const {
    auto ms = Number(key, 0, kMaxMs);
    return ms ? std::optional(Millis(*ms)) : std::nullopt;
  }
  std::optional<std::string> String(std::string_view key) const {
    const toml::node* n = Get(key);
    return n ? StringValue(*n, Quoted(key), diag_) : std::nullopt;
  }
  std::optional<bool> Bool(std::string_view key) const {
    const toml::node* n = Get(key);
    if (n == nullptr) return std::nullopt;
    if (const auto* b = n->as_boolean()) return b->get();
    WrongType(*n, Quoted(key), "a boolean", diag_);
    return std::nullopt;
  }
  const toml::table* Table(std::string_view key) const { return Typed<toml::table>(key, "a table"); }
  const toml::array* Array(std::string_view key) const { return Typed<toml::array>(key, "an array"); }

 private:
  template <typename T>
  const T* Typed(std::string_view key, std::string_view want) const {
    const toml::node* n = Get(key);
    if (n == nullptr) return nullptr;
    if (const T* t = n->as<T>()) return t;
    WrongType(*n, Quoted(key), want, diag_);
    return nullptr;
  }

  const toml::table& table_;
  const std::string what_;
  Diag& diag_;
  const bool is_file_;
};

// ---------------------------------------------------------------------------
// Files: bounded reads, the nesting pre-scan, parsing.

// Reads a small text file whole, never more than max_bytes (plus a chunk).
std::optional<std::string> ReadText(const fs::path& path, size_t max_bytes, Diag& diag) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {  // also keeps a FIFO from blocking the open
    diag.Here("not a regular file");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    diag.Here("cannot be opened");
    return std::nullopt;
  }
  std::string text;
  char chunk[64 * 1024];
  while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > max_bytes) {
      diag.Here("file is larger than " + std::to_string(max_bytes) + " bytes");
      return std::nullopt;
    }
  }
  if (text.find('\0') != std::string::npos) {
    diag.Here("not a text file");
    return std::nullopt;
  }
  return text;
}

// Skips a string starting at text[i] (a quote); returns the index after it.
// Multi-line strings may end with up to two extra quotes, which belong to it.
size_t SkipString(std::string_view text, size_t i) {
  const char quote = text[i];
  const bool escapes = quote == '"';
  const std::string_view triple = escapes ? "\"\"\"" : "'''";
  const bool multiline = text.substr(i, 3) == triple;
  for (i += multiline ? 3 : 1; i < text.size(); ++i) {
    if (text[i] == '\n' && !multiline) return i;  // malformed: toml++ will say so
    if (escapes && text[i] == '\\') {
      ++i;
    } else if (!multiline && text[i] == quote) {
      return i + 1;
    } else if (multiline && text.substr(i, 3) == triple) {
      i += 3;
      for (int extra = 0; extra < 2 && i < text.size() && text[i] == quote; ++extra) ++i;
      return i;
    }
  }
  return text.size();
}

// Moves `at` over `text`, counting columns in code points as toml++ does.
void Advance(std::string_view text, toml::source_position& at) {
  for (char c : text) {
    if (c == '\n') {
      ++at.line;
      at.column = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++at.column;
    }
  }
}

// The first place where the tree would be deeper than kMaxNesting: each
// open [ or { and each dot of a dotted key is a level. toml++ bounds nested
// values (256) but not dotted keys, and a key of 50000 dots overflows the
// stack; this lexical pass (strings and comments skipped) counts both.
std::optional<toml::source_position> TooDeep(std::string_view text) {
  std::vector<int> open;  // the depth inside each open bracket
  int dots = 0;           // of the key being read
  toml::source_position at{1, 1};
  for (size_t i = 0, next; i < text.size(); Advance(text.substr(i, next - i), at), i = next) {
    const char c = text[i];
    next = i + 1;
    if (c == '"' || c == '\'') {
      next = SkipString(text, i);
      continue;
    }
    if (c == '#') {
      next = std::min(text.find('\n', i), text.size());
      continue;
    }
    const int base = open.empty() ? 0 : open.back();
    if (c == '.') ++dots;
    if (c == '[' || c == '{') open.push_back(base + dots + 1), dots = 0;
    if ((c == ']' || c == '}') && !open.empty()) open.pop_back();
    // Not at '=': a value nests under its dotted key (a.b = {c.d = ...}).
    if (c == ']' || c == '}' || c == ',' || c == '\n') dots = 0;
    if ((open.empty() ? 0 : open.back()) + dots > kMaxNesting) return at;
  }
  return std::nullopt;
}

std::optional<toml::table> Parse(const std::string& text, const std::string& shown, Diag& diag) {
  if (auto at = TooDeep(text)) {
    diag.At(*at, "nested deeper than " + std::to_string(kMaxNesting) + " levels");
    return std::nullopt;
  }
#if TOML_EXCEPTIONS
  try {
    return toml::parse(std::string_view(text), std::string_view(shown));
  } catch (const toml::parse_error& e) {
    diag.At(e.source(), e.description());
    return std::nullopt;
  }
#else
  toml::parse_result result = toml::parse(std::string_view(text), std::string_view(shown));
  if (!result) {
    diag.At(result.error().source(), result.error().description());
    return std::nullopt;
  }
  return std::move(result).table();
#endif
}

// A TOML file of the house, read and parsed; nullopt when reported. `text`,
// if given, receives the file's bytes.
std::optional<toml::table> LoadToml(const fs::path& path, const HouseLimits& limits, Diag& diag,
                                    std::string* text = nullptr) {
  auto bytes = ReadText(path, limits.max_file_bytes, diag);
  if (!bytes) return std::nullopt;
  auto table = Parse(*bytes, Shown(path), diag);
  if (text != nullptr) *text = std::move(*bytes);
  return table;
}

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

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

constexpr std::string_view kNameRule = "1-128 characters of A-Z a-z 0-9 . _ -";

// A version folder's number: a positive decimal without leading zeros.
std::optional<int64_t> VersionNumber(std::string_view name) {
  if (name.empty() || name[0] == '0' || name.size() > 18) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), v);
  if (ec != std::errc() || end != name.data() + name.size()) return std::nullopt;
  return v;
}

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

// ---------------------------------------------------------------------------
// model.toml

// A mix's members as written, for the house-wide checks.
struct MixSource {
  std::string file;  // model.toml, as shown
  std::vector<toml::source_position> at;  // where each member is written
};

void ReadBatching(const toml::table& table, Diag& diag, Batcher::Options* out) {
  Fields f(table, "[batching]", diag);
  f.AllowOnly({"max_batch_size", "preferred_batch_sizes", "max_queue_delay_ms", "max_queue_size"});
  if (auto v = f.Int("max_batch_size", 1, 4096)) out->max_batch_size = static_cast<int>(*v);
  if (const toml::array* sizes = f.Array("preferred_batch_sizes")) {
    for (const toml::node& n : *sizes) {
      auto v = IntValue(n, ItemOf("preferred_batch_sizes"), 1, out->max_batch_size, diag);
      if (v) out->preferred_batch_sizes.push_back(static_cast<int>(*v));
    }
  }
  if (auto v = f.Number("max_queue_delay_ms", 0, 60'000)) out->max_queue_delay = Millis(*v);
  if (auto v = f.Int("max_queue_size", 1, 1'000'000)) out->max_queue_size = static_cast<size_t>(*v);
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

// A list of 1..32 distinct names (a task's models, a mix's members); their
// positions go to `at`.
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

bool ValidDevice(std::string_view d) {
  if (d == "cpu" || d == "gpu") return true;
  if (!d.starts_with("gpu:") || d.size() == 4 || d.size() > 8) return false;
  d.remove_prefix(4);
  return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void ReadLabels(const toml::table& table, Diag& diag, std::map<std::string, std::string>* out) {
  for (const auto& [key, node] : table) {
    if (auto v = StringValue(node, "label '" + std::string(key.str()) + "'", diag)) {
      (*out)[std::string(key.str())] = *v;
    }
  }
}

// The folders of a model: version numbers, and any other name.
struct Folders {
  std::vector<int64_t> versions;  // ascending
  std::vector<std::string> others;
};

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

void CheckFolders(const Folders& folders, bool is_mix, Diag& folder) {
  if (is_mix) {
    for (int64_t v : folders.versions) {
      folder.Here("a mix has no version folders (found '" + std::to_string(v) + "')");
    }
    for (const std::string& other : folders.others) {
      folder.Here("a mix has no version folders (found '" + other + "')");
    }
    return;
  }
  for (const std::string& other : folders.others) {
    folder.Here("bad version folder '" + other + "' (version folders are positive integers: 1, 2, ...)");
  }
  if (folders.versions.empty() && folders.others.empty()) {
    folder.Here("no version folder (versions are folders named 1, 2, ...)");
  }
}

// Keys that belong to the other kind of model.
void CheckKind(const Fields& f, bool is_mix, Diag& diag) {
  static constexpr std::string_view kServedOnly[] = {"est", "instances", "device", "batching",
                                                      "version_policy", "weights"};
  static constexpr std::string_view kMixOnly[] = {"members", "aggregator"};
  using Keys = std::span<const std::string_view>;
  for (std::string_view key : is_mix ? Keys(kServedOnly) : Keys(kMixOnly)) {
    const toml::node* n = f.Get(key);
    if (n == nullptr) continue;
    diag.At(n->source(), Quoted(key) + (is_mix ? " does not apply to a mix"
                                                : " applies only to a mix (backend = \"mix\")"));
  }
}

// The keys of a model that serves version folders (not a mix).
void ReadServedModel(const Fields& f, const Folders& folders, const HouseLimits& limits, Diag& diag,
                     ModelConfig* m) {
  if (f.Require("est")) m->est = f.Ms("est").value_or(Duration(0));
  if (auto v = f.Int("instances", 1, limits.max_instances_per_model)) m->instances = static_cast<int>(*v);
  if (auto d = f.String("device")) {
    if (ValidDevice(*d)) m->device = *d;
    else diag.At(f.Get("device")->source(), "unknown device '" + *d + "' (expected cpu, gpu or gpu:N)");
  }
  if (const toml::table* b = f.Table("batching")) ReadBatching(*b, diag, &m->batching);
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

void ReadMix(const Fields& f, Diag& diag, ModelConfig* m, MixSource* source) {
  source->file = diag.file();
  if (f.Require("members")) {
    if (const toml::array* list = f.Array("members")) {
      m->members = ReadNames(*list, "members", diag, &source->at);
    }
  }
  if (const toml::node* n = f.Get("aggregator")) {
    if (auto a = Parsed(*n, "'aggregator'", &ParseAggregator, diag)) m->aggregator = *a;
  }
}

// What each backend needs in a version folder (the simulator: its timing
// profile; the text models: the files their Train* functions write).
const std::map<std::string, std::vector<std::string>, std::less<>>& Artifacts() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> artifacts = {
      {"simulated", {"simulated.toml"}},
      {"keysearch", {"index"}},
      {"bayes", {"bayes.model"}},
      {"svm", {"svm.model", "features.txt", "labels.txt"}},
      {"embedding", {"embedding.bin", "vectors.f32", "labels.txt"}},
  };
  return artifacts;
}

void ReadModel(const toml::table& table, const Folders& folders, const HouseLimits& limits,
               Diag& diag, ModelConfig* m, MixSource* mix) {
  Fields f(table, "model.toml", diag, /*is_file=*/true);
  f.AllowOnly({"backend", "est", "lag_target_ms", "instances", "device", "labels", "batching",
               "version_policy", "weights", "inputs", "outputs", "members", "aggregator"});
  if (f.Require("backend")) {
    if (auto b = f.String("backend")) {
      if (*b == "mix" || Artifacts().count(*b) != 0) {
        m->backend = *b;
      } else {
        diag.At(f.Get("backend")->source(),
                "unknown backend '" + *b + "' (expected simulated, keysearch, bayes, svm, embedding or mix)");
      }
    }
  }
  const bool is_mix = m->backend == "mix";
  CheckKind(f, is_mix, diag);
  if (auto v = f.Ms("lag_target_ms")) m->lag_target = *v;
  if (const toml::table* l = f.Table("labels")) ReadLabels(*l, diag, &m->labels);
  m->inputs = ReadTensors(f, "inputs", diag, {"question", DataType::kBytes, {1}});
  m->outputs = ReadTensors(f, "outputs", diag, {"answer", DataType::kBytes, {1}});
  m->batching.model = m->name;
  if (is_mix) {
    ReadMix(f, diag, m, mix);
  } else {
    ReadServedModel(f, folders, limits, diag, m);
  }
}

// ---------------------------------------------------------------------------
// Versions

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

// Reads one served version's artifacts; false when it has errors (reported).
bool ScanVersion(const HouseLimits& limits, const Diag& model_diag, const ModelConfig& m,
                 VersionConfig* v) {
  Diag folder = model_diag.ForVersion(v->number, Shown(v->dir));
  if (auto fingerprint = FolderFingerprint(v->dir, folder)) v->fingerprint = *fingerprint;
  const fs::path artifact = v->dir / "simulated.toml";
  Diag diag = model_diag.ForVersion(v->number, Shown(artifact));
  v->simulated.model = m.name;
  v->simulated.instances = m.instances;
  if (m.backend == "simulated") {
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

// Keeps the versions without errors (and their weights); a model left with
// none is in error as a whole.
void ScanVersions(const HouseLimits& limits, Diag& folder, ModelConfig* m) {
  if (m->versions.empty()) return;  // no folder or a bad policy: already reported
  std::vector<VersionConfig> valid;
  for (VersionConfig& v : m->versions) {
    if (ScanVersion(limits, folder, *m, &v)) valid.push_back(std::move(v));
  }
  m->versions = std::move(valid);
  std::erase_if(m->weights, [&](const auto& w) {
    return std::none_of(m->versions.begin(), m->versions.end(),
                        [&](const VersionConfig& v) { return v.number == w.first; });
  });
  if (m->versions.empty()) folder.Here("no loadable version");
}

// Scans one model folder; nullopt when it has model-wide errors (reported).
// A mix's member positions go to `mix`.
std::optional<ModelConfig> ScanModel(const fs::path& house, const std::string& name,
                                     const HouseLimits& limits, std::vector<HouseError>* errors,
                                     MixSource* mix) {
  ModelConfig m;
  m.name = name;
  m.dir = house / name;
  Diag folder(errors, name, 0, Shown(m.dir));
  if (!ValidName(name)) {
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
  ReadModel(*table, *folders, limits, diag, &m, mix);
  CheckFolders(*folders, m.backend == "mix", folder);
  ScanVersions(limits, folder, &m);
  if (diag.count() + folder.count() > 0) return std::nullopt;
  return m;
}

// ---------------------------------------------------------------------------
// The house as a whole: mixes' members, instances' tasks.

// What the model scans leave for the house-wide checks.
struct Found {
  std::set<std::string, std::less<>> broken;  // model folders with model-wide errors
  std::map<std::string, MixSource, std::less<>> mixes;
};

using ModelsByName = std::map<std::string_view, const ModelConfig*>;

// Depth first along mix members: true when `target` is reached, with the
// way there in `path`. Each mix is entered once, so it ends.
bool Reaches(const ModelConfig& from, std::string_view target, const ModelsByName& models,
             std::set<std::string_view>* seen, std::vector<std::string_view>* path) {
  for (const std::string& member : from.members) {
    auto it = models.find(member);
    if (it == models.end() || it->second->backend != "mix") continue;
    path->push_back(member);
    if (member == target) return true;
    if (seen->insert(member).second && Reaches(*it->second, target, models, seen, path)) return true;
    path->pop_back();
  }
  return false;
}

// Reports `mix` if it is on a cycle ("mix cycle: mix1 -> mix2 -> mix1").
bool OnCycle(const ModelConfig& mix, const ModelsByName& models, const MixSource& source, Diag& diag) {
  std::set<std::string_view> seen;
  std::vector<std::string_view> path{mix.name};
  if (!Reaches(mix, mix.name, models, &seen, &path)) return false;
  std::string text;
  for (std::string_view name : path) text += (text.empty() ? "" : " -> ") + std::string(name);
  const auto first = std::find(mix.members.begin(), mix.members.end(), path[1]) - mix.members.begin();
  diag.At(source.at[static_cast<size_t>(first)], "mix cycle: " + text);
  return true;
}

// Mixes whose members are missing or in error, or that contain themselves,
// are in error; so are the mixes that contain those, and so on.
void CheckMixes(HouseScan* scan, Found* found) {
  ModelsByName models;
  for (const ModelConfig& m : scan->config.models) models[m.name] = &m;
  auto diag_of = [&](const ModelConfig& mix) {
    return Diag(&scan->errors, mix.name, 0, found->mixes[mix.name].file);
  };
  std::set<std::string, std::less<>> bad;
  for (const ModelConfig& mix : scan->config.models) {
    if (mix.backend != "mix") continue;
    Diag diag = diag_of(mix);
    const MixSource& source = found->mixes[mix.name];
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
      if (mix.backend != "mix" || bad.contains(mix.name)) continue;
      Diag diag = diag_of(mix);
      for (size_t i = 0; i < mix.members.size(); ++i) {
        if (bad.contains(mix.members[i])) {
          diag.At(found->mixes[mix.name].at[i], "member '" + mix.members[i] + "' has errors");
        }
      }
      if (diag.count() > 0) {
        bad.insert(mix.name);
        changed = true;
      }
    }
  }
  std::erase_if(scan->config.models, [&](const ModelConfig& m) { return bad.contains(m.name); });
  found->broken.insert(bad.begin(), bad.end());
}

void CheckTaskModels(const TaskConfig& task, const std::vector<toml::source_position>& at,
                     const HouseConfig& house, const Found& found, Diag& diag) {
  for (size_t i = 0; i < task.models.size(); ++i) {
    const std::string& name = task.models[i];
    if (found.broken.contains(name)) {
      diag.At(at[i], "model '" + name + "' has errors");
    } else if (std::none_of(house.models.begin(), house.models.end(),
                            [&](const ModelConfig& m) { return m.name == name; })) {
      diag.At(at[i], "model '" + name + "' is not in the house");
    }
  }
}

// A task, or nullopt when it has errors (reported).
std::optional<TaskConfig> ReadTask(const toml::key& key, const toml::node& node,
                                   const HouseConfig& house, const Found& found, Diag& diag) {
  const std::string name(key.str());
  if (!ValidName(name)) {
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
  f.AllowOnly({"models", "tloc", "crossRequest", "crossLag", "priority"});
  TaskConfig task;
  task.name = name;
  if (f.Require("models")) {
    if (const toml::array* list = f.Array("models")) {
      std::vector<toml::source_position> at;
      task.models = ReadNames(*list, "models", diag, &at);
      CheckTaskModels(task, at, house, found, diag);
    }
  }
  if (f.Require("tloc")) {
    if (auto v = f.Ms("tloc")) {
      if (*v <= Duration(0)) diag.At(f.Get("tloc")->source(), "'tloc' must be more than 0");
      task.tloc = *v;
    }
  }
  if (auto v = f.Int("crossRequest", 0, 16)) task.cross_request = static_cast<int>(*v);
  if (auto v = f.Ms("crossLag")) task.cross_lag = *v;
  if (auto v = f.Int("priority", -1000, 1000)) task.priority = static_cast<int>(*v);
  if (diag.count() != before) return std::nullopt;
  return task;
}

// An instance with its valid tasks, or nullopt when it is in error itself.
std::optional<InstanceConfig> ReadInstance(const toml::key& key, const toml::node& node,
                                           const HouseConfig& house, const Found& found, Diag& diag) {
  const std::string name(key.str());
  if (!ValidName(name)) {
    diag.At(key.source(), "bad instance name '" + name + "' (" + std::string(kNameRule) + ")");
    return std::nullopt;
  }
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    WrongType(node, "instance '" + name + "'", "a table", diag);
    return std::nullopt;
  }
  Fields f(*table, "instance '" + name + "'", diag);
  f.AllowOnly({"tasks"});
  InstanceConfig instance{name, {}};
  if (const toml::table* tasks = f.Table("tasks")) {
    for (const auto& [task_key, task_node] : *tasks) {
      auto task = ReadTask(task_key, task_node, house, found, diag);
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
  Diag diag(&scan->errors, "", 0, Shown(file));
  auto table = LoadToml(file, limits, diag);
  if (!table) return;
  Fields f(*table, "instances.toml", diag, /*is_file=*/true);
  f.AllowOnly({"instances"});
  const toml::table* instances = f.Table("instances");
  if (instances == nullptr) return;
  for (const auto& [key, node] : *instances) {
    auto instance = ReadInstance(key, node, scan->config, found, diag);
    if (instance) scan->config.instances.push_back(std::move(*instance));
  }
}

}  // namespace

HouseScan ScanHouse(const fs::path& dir, const HouseLimits& limits) {
  HouseScan scan;
  scan.config.dir = dir;
  Diag house(&scan.errors, "", 0, Shown(dir));
  std::error_code ec;
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
  Found found;
  for (const std::string& name : *names) {  // sorted, so config.models is too
    MixSource mix;
    auto model = ScanModel(dir, name, limits, &scan.errors, &mix);
    if (!model) {
      found.broken.insert(name);
      continue;
    }
    if (model->backend == "mix") found.mixes[name] = std::move(mix);
    scan.config.models.push_back(std::move(*model));
  }
  CheckMixes(&scan, &found);
  ScanInstances(dir, limits, found, &scan);
  return scan;
}

StatusOr<HouseConfig> LoadHouse(const fs::path& dir, const HouseLimits& limits) {
  HouseScan scan = ScanHouse(dir, limits);
  if (scan.errors.empty()) return std::move(scan.config);
  std::string message;
  for (const HouseError& e : scan.errors) message += (message.empty() ? "" : "\n") + e.message;
  return InvalidArgument(std::move(message));
}

}  // namespace tbms
