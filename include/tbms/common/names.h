// The name rule: what a model, mix, task, instance or access id may be
// called. A name goes into URL paths (/v1/instances/{instance}/try,
// /v2/models/{m}), metric labels and the Authorization header's Credential
// without escaping, so it is 1-128 characters of A-Z a-z 0-9 . _ -
// (docs/house.md). The house, the HTTP edge, the signature parser and the
// command-line tools all check it here; the Python client has its own copy.
// Thread safety: pure functions, safe for concurrent use.
#pragma once

#include <cstddef>
#include <string_view>

namespace tbms {

inline constexpr size_t kMaxNameLength = 128;
// The rule as messages state it.
inline constexpr std::string_view kNameRule = "1-128 characters of A-Z a-z 0-9 . _ -";

// ASCII only: not std::isalnum, whose answer depends on the locale.
constexpr bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

constexpr bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

// Names the report channel gives rows of its own: admin and unsigned v2
// infers count under instance kInfersInstance, and rows past the report's
// caps under kOverflowRow (as the instance, or as an instance's task). No
// instance of the house may take either, nor a task kOverflowRow, so no
// key sees another's rows and no two series share their labels.
inline constexpr std::string_view kInfersInstance = "v2";
inline constexpr std::string_view kOverflowRow = "other";

}  // namespace tbms
