// Test helper shared by the server's tests: a simulated model as the house
// reader would give it, with version folders that need no files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tbms/house/config.h"

namespace tbms::server_test {

// Versions `versions`, est 10 ms, each batch 5 ms; a version's fingerprint
// is its number.
inline ModelConfig Simulated(const std::string& name, std::vector<int64_t> versions, uint64_t fingerprint = 1) {
  ModelConfig m;
  m.name = name;
  m.backend = "simulated";
  m.est = Millis(10);
  m.fingerprint = fingerprint;
  for (int64_t n : versions) {
    VersionConfig v;
    v.number = n;
    v.fingerprint = static_cast<uint64_t>(n);
    v.simulated.base = Millis(5);
    m.versions.push_back(v);
  }
  return m;
}

}  // namespace tbms::server_test
