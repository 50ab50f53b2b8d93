#include "credentials.h"

#include <cstdlib>
#include <fstream>

namespace tbms::tools {

void AddCredentialFlags(CLI::App* cmd, CredentialFlags& flags) {
  cmd->add_option("--access-id", flags.access_id, "Access id to sign requests with (default: $TBMS_ACCESS_ID)");
  cmd->add_option("--access-key-file", flags.access_key_file,
                  "File holding the access key (default: the key in $TBMS_ACCESS_KEY)");
  cmd->add_option("--ca-file", flags.ca_file, "With an https --url: trust this CA or self-signed certificate (PEM)")
      ->check(CLI::ExistingFile);
}

StatusOr<std::optional<AccessKey>> LoadCredentials(const CredentialFlags& flags) {
  AccessKey key;
  key.id = flags.access_id;
  if (const char* env = std::getenv("TBMS_ACCESS_ID"); key.id.empty() && env != nullptr) key.id = env;
  if (!flags.access_key_file.empty()) {
    std::ifstream in(flags.access_key_file, std::ios::binary);
    if (!in) return InvalidArgument("cannot read --access-key-file " + flags.access_key_file);
    std::getline(in, key.secret);
    while (!key.secret.empty() && key.secret.back() == '\r') key.secret.pop_back();
  } else if (const char* env = std::getenv("TBMS_ACCESS_KEY"); env != nullptr) {
    key.secret = env;
  }
  if (key.id.empty() && key.secret.empty()) return std::optional<AccessKey>();
  if (key.id.empty()) return InvalidArgument("an access key needs its access id: --access-id or TBMS_ACCESS_ID");
  if (key.secret.empty()) {
    return InvalidArgument("access id '" + key.id + "' needs its key: --access-key-file or TBMS_ACCESS_KEY");
  }
  return std::optional<AccessKey>(std::move(key));
}

}  // namespace tbms::tools
