// The CLI's access credentials (tbms try, report, bench): --access-id or
// TBMS_ACCESS_ID, and the key from --access-key-file or TBMS_ACCESS_KEY (never
// a flag's value: command lines are visible to every user of the machine).
// With neither id nor key, requests go unsigned (a server in --insecure-dev).
// --ca-file is whom an https server must be vouched for by.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>

#include "tbms/auth/signing.h"
#include "tbms/common/status.h"

namespace tbms::tools {

struct CredentialFlags {
  std::string access_id;
  std::string access_key_file;
  std::string ca_file;  // https: trust only this CA (or self-signed certificate)
};

void AddCredentialFlags(CLI::App* cmd, CredentialFlags& flags);

// The key to sign with, nullopt for unsigned requests; INVALID_ARGUMENT when
// only half is given or the key file cannot be read.
StatusOr<std::optional<AccessKey>> LoadCredentials(const CredentialFlags& flags);

}  // namespace tbms::tools
