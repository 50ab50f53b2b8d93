// Private to the house component: reading access keys from instances.toml
// (docs/security.md). A key names where its secret is — a file of the
// house readable by its owner only, or an environment variable — and the
// secret itself never appears in a message.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "tbms/auth/signing.h"
#include "toml_fields.h"

namespace tbms::house_detail {

// Reads the `keys = [{ id = "...", secret_file = "..." }, { id = "...",
// secret_env = "..." }]` lists of one instances.toml, reporting each problem
// where it is written. Access ids are unique per house.
struct KeyReader {
  std::filesystem::path house;
  bool read_secrets = true;  // false: check the declarations only (no secret is read)
  std::set<std::string> ids;  // seen so far

  // The keys of `instance` (empty: [admin]).
  std::vector<AccessKey> Read(const toml::array& list, const std::string& instance, Diag& diag);
};

// One secret (a line of 16 to 4096 bytes): from a file of the house (a
// path relative to `house`, readable by its owner only) or from the
// environment. nullopt after reporting the problem at `at`.
std::optional<std::string> SecretFromFile(const std::string& name, const std::filesystem::path& house,
                                          const toml::node& at, Diag& diag);
std::optional<std::string> SecretFromEnv(const std::string& name, const toml::node& at, Diag& diag);

}  // namespace tbms::house_detail
