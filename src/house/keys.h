// Private to the house component: reading access keys from instances.toml
// (docs/security.md). A key names where its secret is — a file of the
// house readable by its owner only, or an environment variable — and the
// secret itself never appears in a message.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "tbms/auth/signing.h"
#include "toml_fields.h"

namespace tbms::house_detail {

// `keys = [{ id = "...", secret_file = "..." }, { id = "...", secret_env = "..." }]`
// of `instance` (empty: [admin]); each problem is reported where it is
// written. `ids` holds the access ids seen so far: ids are unique per house.
std::vector<AccessKey> ReadKeys(const toml::array& list, const std::string& instance,
                                const std::filesystem::path& house, Diag& diag, std::set<std::string>* ids);

}  // namespace tbms::house_detail
