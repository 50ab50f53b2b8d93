// The flags of the client commands (tbms try, report, bench), turned into
// the client library's types (include/tbms/client/).
//
// Credentials: --access-id or TBMS_ACCESS_ID, and the key from
// --access-key-file or TBMS_ACCESS_KEY (never a flag's value: command lines
// are visible to every user of the machine). With neither id nor key,
// requests go unsigned (a server in --insecure-dev). --ca-file is whom an
// https server must be vouched for by.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/auth/signing.h"
#include "tbms/client/client.h"
#include "tbms/client/try.h"
#include "tbms/common/status.h"

namespace tbms::tools {

struct CredentialFlags {
  std::string access_id;
  std::string access_key_file;
  std::string ca_file;  // https: trust only this CA (or self-signed certificate)
};

void AddCredentialFlags(CLI::App* cmd, CredentialFlags& flags, bool tls = true);

// The key to sign with, nullopt for unsigned requests; INVALID_ARGUMENT when
// only half is given or the key file cannot be read.
StatusOr<std::optional<AccessKey>> LoadCredentials(const CredentialFlags& flags);

// The client for `url` with the credentials; INVALID_ARGUMENT for bad flags.
StatusOr<std::unique_ptr<client::Client>> MakeClient(const std::string& url, const CredentialFlags& flags,
                                                     const std::string& instance, double request_timeout_ms);

// The flags that say which server is asked and how: shared by try and bench.
struct TryParams {
  std::string url = "http://127.0.0.1:8000";
  std::string instance = "default";
  std::string models;  // NAME[:EST_MS],... best first
  double tloc = 50;
  int cross_request = 0;
  double cross_lag = 0;
  int priority = 0;
  std::string hedge = "at_risk";
};
void AddTryParams(CLI::App* cmd, TryParams& p, const std::string& url_help = "Server URL");

// "embedding:35,svm:25,bayes" -> ranked models; INVALID_ARGUMENT naming the bad item.
StatusOr<std::vector<client::Candidate>> ParseModels(std::string_view spec);

// The try the flags describe: every option set, as the flags' defaults say.
client::TryRequest TryRequestOf(std::string_view question, const std::vector<client::Candidate>& models,
                                const TryParams& params);

}  // namespace tbms::tools
