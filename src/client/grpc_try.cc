#include "tbms/client/grpc_try.h"

#include <chrono>
#include <cmath>

#include "tbms/common/json_writer.h"

namespace tbms::client {
namespace {

using Parameters = google::protobuf::Map<std::string, inference::InferParameter>;

// "embedding:35,svm@2,bayes": the models parameter's form.
std::string ModelList(const std::vector<Candidate>& models) {
  std::string out;
  for (const Candidate& c : models) {
    if (!out.empty()) out += ',';
    out += c.name;
    if (c.version) out += '@' + *c.version;
    if (c.est_ms) {
      out += ':';
      AppendJsonNumber(out, *c.est_ms);
    }
  }
  return out;
}

Status SetMillis(Parameters& p, const char* key, std::optional<double> ms) {
  if (!ms) return OkStatus();
  if (*ms != std::floor(*ms)) {
    std::string given;
    AppendJsonNumber(given, *ms);
    return InvalidArgument(std::string(key) + " over gRPC is whole milliseconds, not " + given);
  }
  p[key].set_int64_param(static_cast<int64_t>(*ms));
  return OkStatus();
}

const inference::InferParameter* Find(const Parameters& p, const char* key) {
  const auto it = p.find(key);
  return it == p.end() ? nullptr : &it->second;
}

}  // namespace

StatusOr<inference::ModelInferRequest> TryMessage(const TryRequest& r, std::string_view instance) {
  inference::ModelInferRequest m;
  m.set_model_name("try");
  auto& p = *m.mutable_parameters();
  p["instance"].set_string_param(std::string(instance));
  if (!r.task.empty()) p["task"].set_string_param(r.task);
  if (!r.models.empty()) p["models"].set_string_param(ModelList(r.models));
  if (!r.mixes.empty()) p["mixes"].set_string_param(MixesJson(r.mixes));
  TBMS_RETURN_IF_ERROR(SetMillis(p, "tloc", r.tloc_ms));
  TBMS_RETURN_IF_ERROR(SetMillis(p, "crossLag", r.cross_lag_ms));
  if (r.cross_request) p["crossRequest"].set_int64_param(*r.cross_request);
  if (r.priority) p["priority"].set_int64_param(*r.priority);
  if (!r.hedge.empty()) p["hedge"].set_string_param(r.hedge);
  auto* q = m.add_inputs();
  q->set_name("question");
  q->set_datatype("BYTES");
  q->add_shape(1);
  q->mutable_contents()->add_bytes_contents(r.question);
  return m;
}

std::string SignTryMessage(const AccessKey& key, std::string_view message) {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return AuthorizationHeader(key, "POST", kGrpcTryPath, message,
                             std::chrono::duration_cast<std::chrono::seconds>(now).count(), NewNonce());
}

// The report's parameters, said as the REST body says them, and read by the
// one parser of that body: the two protocols cannot disagree on a field.
StatusOr<TryResult> ParseTryMessage(const inference::ModelInferResponse& response) {
  const Parameters& p = response.parameters();
  const inference::InferParameter* attempts = Find(p, "attempts");
  if (attempts == nullptr || !attempts->has_string_param()) {
    return Internal("not a try's response: its parameters have no attempts");
  }
  std::string body;
  JsonWriter w(body);
  w.BeginObject().Key("answer");
  const bool answered = response.outputs_size() > 0 && response.outputs(0).name() == "answer" &&
                        response.outputs(0).contents().bytes_contents_size() == 1;
  if (answered) {
    w.Raw(response.outputs(0).contents().bytes_contents(0));
  } else {
    w.Null();
  }
  for (const char* key : {"model", "version", "reason"}) {
    if (const auto* v = Find(p, key); v != nullptr && v->has_string_param()) w.Key(key).String(v->string_param());
  }
  if (const auto* v = Find(p, "rank"); v != nullptr && v->has_int64_param()) w.Key("rank").Int(v->int64_param());
  if (const auto* v = Find(p, "downgraded"); v != nullptr) w.Key("downgraded").Bool(v->bool_param());
  if (const auto* v = Find(p, "elapsed_us"); v != nullptr) w.Key("elapsed_ms").Number(v->int64_param() / 1000.0);
  w.Key("attempts").Raw(attempts->string_param());
  w.EndObject();
  return ParseTryResult(body);
}

}  // namespace tbms::client
