// How the commands print numbers in their tables: one definition.
#pragma once

#include <cstdio>
#include <string>

namespace tbms::tools {

// `v` with `decimals` digits after the point ("%.*f"; 64 bytes hold any double).
inline std::string Fixed(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace tbms::tools
