// The name rule shared by instances, tasks, models and access ids: 1-128
// characters of [A-Za-z0-9._-]. Pure; thread-safe.
#pragma once

#include <string_view>

namespace tbms {

inline constexpr std::string_view kNameRuleText = "1-128 characters of [A-Za-z0-9._-]";

inline bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace tbms
