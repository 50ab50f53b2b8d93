#include "client_flags.h"

#include <charconv>
#include <cstdlib>
#include <fstream>

#include "tbms/broker/limits.h"

namespace tbms::tools {

void AddCredentialFlags(CLI::App* cmd, CredentialFlags& flags, bool tls) {
  cmd->add_option("--access-id", flags.access_id, "Access id to sign requests with (default: $TBMS_ACCESS_ID)");
  cmd->add_option("--access-key-file", flags.access_key_file,
                  "File holding the access key (default: the key in $TBMS_ACCESS_KEY)")
      ->check(CLI::ExistingFile);
  if (!tls) return;
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

StatusOr<std::unique_ptr<client::Client>> MakeClient(const std::string& url, const CredentialFlags& flags,
                                                     const std::string& instance, double request_timeout_ms) {
  auto key = LoadCredentials(flags);
  if (!key.ok()) return key.status();
  auto parsed = client::ParseUrl(url);
  if (!parsed.ok()) return InvalidArgument("--url: " + parsed.status().message());
  if (!flags.ca_file.empty() && !parsed->tls) return InvalidArgument("--ca-file applies to an https --url, not " + url);
  client::Client::Options options;
  options.endpoint = url;
  if (key->has_value()) {
    options.access_id = (*key)->id;
    options.access_key = (*key)->secret;
  }
  options.instance = instance;
  options.request_timeout_ms = request_timeout_ms;
  options.ca_file = flags.ca_file;
  return client::Client::Create(std::move(options));
}

void AddTryParams(CLI::App* cmd, TryParams& p, const std::string& url_help) {
  cmd->add_option("--url", p.url, url_help)->capture_default_str();
  cmd->add_option("--instance", p.instance, "Instance name")->capture_default_str();
  cmd->add_option("--models", p.models,
                  "Ranked candidates, best first: NAME[:EST_MS],... e.g. "
                  "embedding:35,svm:25,bayes:15,keysearch:5")->required();
  cmd->add_option("--tloc", p.tloc, "Time budget in ms")
      ->check(CLI::Range(0.001, limits::kMaxTlocMs))->capture_default_str();
  cmd->add_option("--cross-request", p.cross_request, "Extra attempts allowed in flight")
      ->check(CLI::Range(0, limits::kMaxCrossRequest))->capture_default_str();
  cmd->add_option("--cross-lag", p.cross_lag, "Minimum ms between launches")
      ->check(CLI::Range(0.0, limits::kMaxCrossLagMs))->capture_default_str();
  cmd->add_option("--priority", p.priority, "Higher is more urgent")
      ->check(CLI::Range(-limits::kMaxPriority, limits::kMaxPriority))->capture_default_str();
  cmd->add_option("--hedge", p.hedge, "When a fallback launches: at_risk (once no attempt in flight is likely to "
                                      "answer by tloc) or expected (the talk's est timer)")
      ->check(CLI::IsMember({"at_risk", "expected"}))->capture_default_str();
}

// "embedding:35,svm:25" -> [{embedding, 35}, {svm, 25}]; "svm" has no estimate.
StatusOr<std::vector<client::Candidate>> ParseModels(std::string_view spec) {
  std::vector<client::Candidate> out;
  if (spec.empty()) return InvalidArgument("--models is empty");
  for (;;) {
    const std::string_view item = spec.substr(0, spec.find(','));
    const size_t colon = item.find(':');
    client::Candidate m{std::string(item.substr(0, colon)), std::nullopt, std::nullopt};
    if (m.name.empty()) return InvalidArgument("empty model name in --models");
    if (colon != std::string_view::npos) {
      double est;
      const std::string_view text = item.substr(colon + 1);
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), est);
      if (ec != std::errc() || p != text.data() + text.size() || !(est > 0) || est > 600000) {
        return InvalidArgument("bad estimate in '" + std::string(item) + "' (NAME:MS, 0 < MS <= 600000)");
      }
      m.est_ms = est;
    }
    for (const client::Candidate& o : out) {
      if (o.name == m.name) return InvalidArgument("model '" + m.name + "' is listed twice in --models");
    }
    out.push_back(std::move(m));
    if (item.size() == spec.size()) break;
    spec.remove_prefix(item.size() + 1);
  }
  if (out.size() > 32) return InvalidArgument("--models lists more than 32 models");
  return out;
}

client::TryRequest TryRequestOf(std::string_view question, const std::vector<client::Candidate>& models,
                                const TryParams& params) {
  client::TryRequest r;
  r.question = question;
  r.models = models;
  r.tloc_ms = params.tloc;
  r.cross_request = params.cross_request;
  r.cross_lag_ms = params.cross_lag;
  r.priority = params.priority;
  r.hedge = params.hedge;
  return r;
}

}  // namespace tbms::tools
