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

}  // namespace tbms
