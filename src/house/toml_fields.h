// Private to the house component (src/house/): the generic TOML machinery
// its readers share. A Diag collects one file's problems as HouseErrors
// ("file:line:column: message"); Fields reads one table's keys, typed and
// range-checked, reporting each bad key where it is written; LoadToml reads
// a file bounded (size, NUL bytes), pre-scans it for hostile nesting and
// parses it with toml++.
//
// Thread safety: the free functions keep no state and are safe for
// concurrent use. Diag and Fields are thread-compatible: each appends to a
// caller-owned error list and must be used from one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <toml++/toml.h>

#include "tbms/common/status.h"
#include "tbms/common/time.h"
#include "tbms/house/config.h"

namespace tbms::house_detail {

// A path as shown in messages.
inline std::string Shown(const std::filesystem::path& path) { return path.string(); }

// Where one file's (or folder's) problems go: the path shown first, then the
// line and column when the problem has one.
class Diag {
 public:
  Diag(std::vector<HouseError>* out, std::string model, int64_t version, std::string file,
       HouseError::Source source = HouseError::Source::kModel)
      : out_(out), model_(std::move(model)), version_(version), file_(std::move(file)), source_(source) {}

  void At(const toml::source_position& at, std::string_view message) {
    if (at.line == 0) return Here(message);
    Add(file_ + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) + ": " +
        std::string(message));
  }
  void At(const toml::source_region& at, std::string_view message) { At(at.begin, message); }
  void Here(std::string_view message) { Add(file_ + ": " + std::string(message)); }

  size_t count() const { return count_; }
  const std::string& file() const { return file_; }
  Diag For(std::string file) const { return Diag(out_, model_, version_, std::move(file), source_); }
  Diag ForVersion(int64_t version, std::string file) const {
    return Diag(out_, model_, version, std::move(file), source_);
  }
  // The same place, for errors that name a missing model (HouseError::names_model),
  // counted apart from this one's.
  Diag ForModelNames() const {
    Diag d(out_, model_, version_, file_, source_);
    d.names_model_ = true;
    return d;
  }

 private:
  void Add(std::string message) {
    out_->push_back({model_, version_, std::move(message), names_model_, source_});
    ++count_;
  }

  std::vector<HouseError>* out_;
  std::string model_;
  int64_t version_;
  std::string file_;
  HouseError::Source source_;
  size_t count_ = 0;
  bool names_model_ = false;
};

// "'key'", and "an item of 'key'": how values are named in messages.
std::string Quoted(std::string_view key);
std::string ItemOf(std::string_view key);

// Reports that `node` is not `want` ("an integer"); `what` names the value.
void WrongType(const toml::node& node, std::string_view what, std::string_view want, Diag& diag);

// One value, or nullopt when it is of the wrong type or out of range (both
// reported). `what` names the value in messages: "'replicas'", "an item of
// 'models'".
std::optional<int64_t> IntValue(const toml::node& node, std::string_view what, int64_t lo,
                                int64_t hi, Diag& diag);
// An integer or a float in [lo, hi] (NaN is out of every range).
std::optional<double> NumberValue(const toml::node& node, std::string_view what, double lo,
                                  double hi, Diag& diag);
std::optional<std::string> StringValue(const toml::node& node, std::string_view what, Diag& diag);

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

// Reads one TOML table's keys. Each getter returns nullopt when the key is
// absent or bad; a bad one is reported where it is written. Borrows the table
// and the Diag, which must outlive it.
class Fields {
 public:
  // `what` names the table in messages: "model.toml", "[batching]", "task 'qa'".
  // A file's root table has no position of its own.
  Fields(const toml::table& table, std::string what, Diag& diag, bool is_file = false)
      : table_(table), what_(std::move(what)), diag_(diag), is_file_(is_file) {}

  // Reports every key not in `known` or `deprecated`; the message lists
  // only `known`, so that it does not suggest an old name.
  void AllowOnly(std::initializer_list<std::string_view> known,
                 std::initializer_list<std::string_view> deprecated = {}) const;
  const toml::node* Get(std::string_view key) const { return table_.get(key); }
  bool Has(std::string_view key) const { return Get(key) != nullptr; }
  // Reports the key as missing; false if it is.
  bool Require(std::string_view key) const;
  std::optional<int64_t> Int(std::string_view key, int64_t lo, int64_t hi) const;
  std::optional<double> Number(std::string_view key, double lo, double hi) const;
  // A number of milliseconds in [0, 600000], or in [0, max].
  std::optional<Duration> Ms(std::string_view key) const;
  std::optional<Duration> Ms(std::string_view key, Duration max) const;
  std::optional<std::string> String(std::string_view key) const;
  std::optional<bool> Bool(std::string_view key) const;
  const toml::table* Table(std::string_view key) const;
  const toml::array* Array(std::string_view key) const;

 private:
  template <typename T>
  const T* Typed(std::string_view key, std::string_view want) const;

  const toml::table& table_;
  const std::string what_;
  Diag& diag_;
  const bool is_file_;
};

// A TOML file of the house, read (at most limits.max_file_bytes, no NUL
// bytes), checked for nesting deeper than 64 levels and parsed; nullopt when
// reported. `text`, if given, receives the file's bytes.
std::optional<toml::table> LoadToml(const std::filesystem::path& path, const HouseLimits& limits,
                                    Diag& diag, std::string* text = nullptr);

}  // namespace tbms::house_detail
