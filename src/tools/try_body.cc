#include "try_body.h"

#include <charconv>

#include "tbms/common/json_writer.h"

namespace tbms::tools {

// "embedding:35,svm:25" -> [{embedding, 35}, {svm, 25}]; "svm" has no estimate.
StatusOr<std::vector<ModelSpec>> ParseModels(std::string_view spec) {
  std::vector<ModelSpec> out;
  if (spec.empty()) return InvalidArgument("--models is empty");
  for (;;) {
    const std::string_view item = spec.substr(0, spec.find(','));
    const size_t colon = item.find(':');
    ModelSpec m{std::string(item.substr(0, colon)), std::nullopt};
    if (m.name.empty()) return InvalidArgument("empty model name in --models");
    if (colon != std::string_view::npos) {
      double est;
      const std::string_view text = item.substr(colon + 1);
      auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), est);
      if (ec != std::errc() || p != text.data() + text.size() || !(est > 0) || est > 600000) {
        return InvalidArgument("bad estimate in '" + std::string(item) + "' (NAME:MS, 0 < MS <= 600000)");
      }
      m.est = est;
    }
    for (const ModelSpec& o : out) {
      if (o.name == m.name) return InvalidArgument("model '" + m.name + "' is listed twice in --models");
    }
    out.push_back(std::move(m));
    if (item.size() == spec.size()) break;
    spec.remove_prefix(item.size() + 1);
  }
  if (out.size() > 32) return InvalidArgument("--models lists more than 32 models");
  return out;
}

void AddTryParams(CLI::App* cmd, TryParams& p, const std::string& url_help) {
  cmd->add_option("--url", p.url, url_help)->capture_default_str();
  cmd->add_option("--instance", p.instance, "Instance name")->capture_default_str();
  cmd->add_option("--models", p.models,
                  "Ranked candidates, best first: NAME[:EST_MS],... e.g. "
                  "embedding:35,svm:25,bayes:15,keysearch:5")->required();
  cmd->add_option("--tloc", p.tloc, "Time budget in ms")
      ->check(CLI::Range(0.001, 600000.0))->capture_default_str();
  cmd->add_option("--cross-request", p.cross_request, "Extra attempts allowed in flight")
      ->check(CLI::Range(0, 16))->capture_default_str();
  cmd->add_option("--cross-lag", p.cross_lag, "Minimum ms between launches")
      ->check(CLI::Range(0.0, 600000.0))->capture_default_str();
  cmd->add_option("--priority", p.priority, "Higher is more urgent")
      ->check(CLI::Range(-1000, 1000))->capture_default_str();
}

std::string TryBody(std::string_view question, const std::vector<ModelSpec>& models,
                    const TryParams& params) {
  std::string body;
  JsonWriter w(body);
  w.BeginObject().Key("inputs").BeginObject().Key("question").String(question).EndObject();
  w.Key("models").BeginArray();
  for (const ModelSpec& m : models) {
    w.BeginObject().Key("name").String(m.name);
    if (m.est) w.Key("est").Number(*m.est);
    w.EndObject();
  }
  w.EndArray();
  w.Key("tloc").Number(params.tloc).Key("crossRequest").Int(params.cross_request);
  w.Key("crossLag").Number(params.cross_lag).Key("priority").Int(params.priority).EndObject();
  return body;
}

}  // namespace tbms::tools
