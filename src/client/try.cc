#include "tbms/client/try.h"

#include <simdjson.h>

#include "tbms/common/json_writer.h"

namespace tbms::client {
namespace {

void WriteCandidates(JsonWriter& w, const std::vector<Candidate>& candidates) {
  w.BeginArray();
  for (const Candidate& c : candidates) {
    w.BeginObject().Key("name").String(c.name);
    if (c.est_ms) w.Key("est").Number(*c.est_ms);
    if (c.version) w.Key("version").String(*c.version);
    w.EndObject();
  }
  w.EndArray();
}

// The string at `key`, or nullopt when it is absent, null or not a string.
std::optional<std::string> OptionalString(simdjson::dom::element e, const char* key) {
  std::string_view s;
  if (e[key].get_string().get(s) != simdjson::SUCCESS) return std::nullopt;
  return std::string(s);
}

double NumberOr(simdjson::dom::element e, const char* key, double fallback) {
  double v;
  return e[key].get_double().get(v) == simdjson::SUCCESS ? v : fallback;
}

int IntOr(simdjson::dom::element e, const char* key, int fallback) {
  int64_t v;
  return e[key].get_int64().get(v) == simdjson::SUCCESS ? static_cast<int>(v) : fallback;
}

}  // namespace

std::string MixesJson(const std::vector<Mix>& mixes) {
  std::string out;
  JsonWriter w(out);
  w.BeginArray();
  for (const Mix& m : mixes) {
    w.BeginObject().Key("name").String(m.name).Key("members");
    WriteCandidates(w, m.members);
    w.Key("aggregator").String(m.aggregator).EndObject();
  }
  w.EndArray();
  return out;
}

std::string TryTarget(std::string_view instance) {
  return "/v1/instances/" + std::string(instance) + "/try";
}

std::string TryBody(const TryRequest& r) {
  std::string body;
  JsonWriter w(body);
  w.BeginObject().Key("inputs").BeginObject().Key("question").String(r.question).EndObject();
  if (!r.models.empty()) {
    w.Key("models");
    WriteCandidates(w, r.models);
  }
  if (!r.mixes.empty()) w.Key("mixes").Raw(MixesJson(r.mixes));
  if (!r.task.empty()) w.Key("task").String(r.task);
  if (r.tloc_ms) w.Key("tloc").Number(*r.tloc_ms);
  if (r.cross_request) w.Key("crossRequest").Int(*r.cross_request);
  if (r.cross_lag_ms) w.Key("crossLag").Number(*r.cross_lag_ms);
  if (r.priority) w.Key("priority").Int(*r.priority);
  if (!r.hedge.empty()) w.Key("hedge").String(r.hedge);
  w.EndObject();
  return body;
}

StatusOr<TryResult> ParseTryResult(std::string_view body) {
  // One parser per thread: its buffers are reused from call to call.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc, answer;
  if (parser.parse(body.data(), body.size()).get(doc) != simdjson::SUCCESS ||
      doc["answer"].get(answer) != simdjson::SUCCESS) {
    return Internal("malformed try response (no JSON object with an \"answer\"): " +
                    std::string(body.substr(0, 200)));
  }
  TryResult r;
  if (!answer.is_null()) {
    r.answer = simdjson::minify(answer);
    std::string_view s;
    r.answer_text = answer.get_string().get(s) == simdjson::SUCCESS ? std::string(s) : *r.answer;
  }
  r.model = OptionalString(doc, "model").value_or("");
  r.version = OptionalString(doc, "version");
  r.rank = IntOr(doc, "rank", -1);
  bool downgraded = false;
  if (doc["downgraded"].get_bool().get(downgraded) == simdjson::SUCCESS) r.downgraded = downgraded;
  r.reason = OptionalString(doc, "reason").value_or("");
  r.elapsed_ms = NumberOr(doc, "elapsed_ms", 0);
  simdjson::dom::array attempts;
  if (doc["attempts"].get_array().get(attempts) == simdjson::SUCCESS) {
    for (simdjson::dom::element a : attempts) {
      r.attempts.push_back({OptionalString(a, "model").value_or(""), OptionalString(a, "version"),
                            IntOr(a, "rank", 0), OptionalString(a, "state").value_or(""),
                            NumberOr(a, "started_ms", 0), NumberOr(a, "latency_ms", 0),
                            OptionalString(a, "error")});
    }
  }
  return r;
}

double TryTimeoutMs(const TryRequest& request) { return request.tloc_ms.value_or(10000) + 1000; }

}  // namespace tbms::client
