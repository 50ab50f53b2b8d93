// The house's TOML machinery: diagnostics, typed key readers, bounded file
// reads, the nesting pre-scan and parsing. See toml_fields.h.
#include "toml_fields.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>

namespace tbms::house_detail {

namespace {

namespace fs = std::filesystem;

constexpr double kMaxMs = 600'000;  // the longest time any key may give
constexpr int kMaxNesting = 64;     // toml++ recurses on dotted keys without a limit

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

}  // namespace

// ---------------------------------------------------------------------------
// Values

void WrongType(const toml::node& node, std::string_view what, std::string_view want, Diag& diag) {
  diag.At(node.source(), std::string(what) + " must be " + std::string(want) + ", not " +
                             std::string(TypeName(node)));
}

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

std::string ItemOf(std::string_view key) { return "an item of '" + std::string(key) + "'"; }

// ---------------------------------------------------------------------------
// Fields

void Fields::AllowOnly(std::initializer_list<std::string_view> known,
                       std::initializer_list<std::string_view> deprecated) const {
  for (const auto& [key, node] : table_) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    if (std::find(deprecated.begin(), deprecated.end(), key.str()) != deprecated.end()) continue;
    diag_.At(key.source(), "unknown key '" + std::string(key.str()) + "' in " + what_ +
                               " (expected " + Join(known) + ")");
  }
}

bool Fields::Require(std::string_view key) const {
  if (Has(key)) return true;
  const std::string message = "missing key '" + std::string(key) + "' in " + what_;
  if (is_file_) {
    diag_.Here(message);
  } else {
    diag_.At(table_.source(), message);
  }
  return false;
}

std::optional<int64_t> Fields::Int(std::string_view key, int64_t lo, int64_t hi) const {
  const toml::node* n = Get(key);
  return n ? IntValue(*n, Quoted(key), lo, hi, diag_) : std::nullopt;
}

std::optional<double> Fields::Number(std::string_view key, double lo, double hi) const {
  const toml::node* n = Get(key);
  return n ? NumberValue(*n, Quoted(key), lo, hi, diag_) : std::nullopt;
}

std::optional<Duration> Fields::Ms(std::string_view key) const { return Ms(key, Millis(kMaxMs)); }

std::optional<Duration> Fields::Ms(std::string_view key, Duration max) const {
  auto ms = Number(key, 0, ToMillis(max));
  return ms ? std::optional(Millis(*ms)) : std::nullopt;
}

std::optional<std::string> Fields::String(std::string_view key) const {
  const toml::node* n = Get(key);
  return n ? StringValue(*n, Quoted(key), diag_) : std::nullopt;
}

std::optional<bool> Fields::Bool(std::string_view key) const {
  const toml::node* n = Get(key);
  if (n == nullptr) return std::nullopt;
  if (const auto* b = n->as_boolean()) return b->get();
  WrongType(*n, Quoted(key), "a boolean", diag_);
  return std::nullopt;
}

template <typename T>
const T* Fields::Typed(std::string_view key, std::string_view want) const {
  const toml::node* n = Get(key);
  if (n == nullptr) return nullptr;
  if (const T* t = n->as<T>()) return t;
  WrongType(*n, Quoted(key), want, diag_);
  return nullptr;
}

const toml::table* Fields::Table(std::string_view key) const {
  return Typed<toml::table>(key, "a table");
}

const toml::array* Fields::Array(std::string_view key) const {
  return Typed<toml::array>(key, "an array");
}

// ---------------------------------------------------------------------------
// Files

std::optional<toml::table> LoadToml(const fs::path& path, const HouseLimits& limits, Diag& diag,
                                    std::string* text) {
  auto bytes = ReadText(path, limits.max_file_bytes, diag);
  if (!bytes) return std::nullopt;
  auto table = Parse(*bytes, Shown(path), diag);
  if (text != nullptr) *text = std::move(*bytes);
  return table;
}

}  // namespace tbms::house_detail
