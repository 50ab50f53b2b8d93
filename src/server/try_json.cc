#include "tbms/server/try_json.h"

#include <simdjson.h>

#include <cmath>

#include "tbms/common/json_writer.h"

namespace tbms {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::string Quote(std::string_view s) { return "'" + std::string(s) + "'"; }

std::string Num(double v) {
  std::string out;
  AppendJsonNumber(out, v);
  return out;
}

// A finite number in [lo, hi], integer or not.
Status ReadNumber(element e, std::string_view field, double lo, double hi, double* out) {
  double v;
  switch (e.type()) {
    case element_type::DOUBLE: v = e.get_double().value_unsafe(); break;
    case element_type::INT64: v = static_cast<double>(e.get_int64().value_unsafe()); break;
    case element_type::UINT64: v = static_cast<double>(e.get_uint64().value_unsafe()); break;
    default: return InvalidArgument(std::string(field) + " must be a number");
  }
  if (!std::isfinite(v) || v < lo || v > hi) {
    return InvalidArgument(std::string(field) + " must be in [" + Num(lo) + ", " + Num(hi) +
                           "], got " + Num(v));
  }
  *out = v;
  return OkStatus();
}

Status ReadInt(element e, std::string_view field, int lo, int hi, int* out) {
  int64_t v;
  if (e.type() == element_type::INT64) {
    v = e.get_int64().value_unsafe();
  } else if (e.type() == element_type::UINT64) {
    v = INT64_MAX;
  } else {
    return InvalidArgument(std::string(field) + " must be an integer");
  }
  if (v < lo || v > hi) {
    return InvalidArgument(std::string(field) + " must be in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
  }
  *out = static_cast<int>(v);
  return OkStatus();
}

Status ReadInputs(element e, const TryLimits& limits, Inputs* inputs) {
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return InvalidArgument("inputs must be an object");
  bool has_question = false;
  for (auto [key, value] : obj) {
    if (key != "question") continue;  // other inputs are carried for backends that read them
    std::string_view q;
    if (value.get_string().get(q) != simdjson::SUCCESS) {
      return InvalidArgument("inputs.question must be a string");
    }
    if (q.size() > limits.max_question_bytes) {
      return InvalidArgument("inputs.question is longer than " +
                             std::to_string(limits.max_question_bytes) + " bytes");
    }
    inputs->question.assign(q);
    has_question = true;
  }
  if (!has_question) return InvalidArgument("inputs.question is required");
  return OkStatus();
}

Status ReadModel(element e, size_t index, const FindModelFn& find, const TryLimits& limits,
                 TryRequest* request) {
  const std::string at = "models[" + std::to_string(index) + "]";
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) {
    return InvalidArgument(at + " must be an object like {\"name\": \"svm\", \"est\": 25}");
  }
  std::string_view name, version;
  bool has_name = false;
  double est_ms = -1;
  for (auto [key, value] : obj) {
    if (key == "name") {
      if (value.get_string().get(name) != simdjson::SUCCESS || name.empty()) {
        return InvalidArgument(at + ".name must be a non-empty string");
      }
      has_name = true;
    } else if (key == "est") {
      TBMS_RETURN_IF_ERROR(ReadNumber(value, at + ".est", 0, limits.max_est_ms, &est_ms));
    } else if (key == "version") {
      if (value.get_string().get(version) != simdjson::SUCCESS) {
        return InvalidArgument(at + ".version must be a string");
      }
    } else {
      return InvalidArgument(at + ": unknown field " + Quote(key) + " (expected name, est, version)");
    }
  }
  if (!has_name) return InvalidArgument(at + ".name is required");
  const ModelEntry* model = find(name);
  if (model == nullptr) return NotFound("unknown model " + Quote(name));
  if (!version.empty() && version != model->version) {
    return NotFound("model " + Quote(name) + " has no version " + Quote(version));
  }
  const Duration est = est_ms >= 0 ? Millis(est_ms) : model->default_est;
  request->AddModel(model->name, model->batcher.get(), est);
  return OkStatus();
}

Status ReadModels(element e, const FindModelFn& find, const TryLimits& limits, TryRequest* request) {
  simdjson::dom::array arr;
  if (e.get_array().get(arr) != simdjson::SUCCESS) {
    return InvalidArgument("models must be an array of {\"name\", \"est\"} objects");
  }
  const size_t n = arr.size();
  if (n == 0) return InvalidArgument("models must not be empty");
  if (n > limits.max_candidates) {
    return InvalidArgument("models has " + std::to_string(n) + " entries, at most " +
                           std::to_string(limits.max_candidates) + " are allowed");
  }
  request->members.reserve(n);
  request->candidates.reserve(n);
  size_t i = 0;
  for (element m : arr) TBMS_RETURN_IF_ERROR(ReadModel(m, i++, find, limits, request));
  return OkStatus();
}

}  // namespace

StatusOr<TryRequest> ParseTryRequest(std::string_view body, const FindModelFn& find,
                                     const TryLimits& limits) {
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(body.data(), body.size()).get(root); err != simdjson::SUCCESS) {
    return InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(err));
  }
  object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    return InvalidArgument("the body must be a JSON object");
  }
  TryRequest request;
  auto inputs = std::make_shared<Inputs>();
  bool has_inputs = false, has_models = false, has_tloc = false;
  for (auto [key, value] : obj) {
    if (key == "inputs") {
      TBMS_RETURN_IF_ERROR(ReadInputs(value, limits, inputs.get()));
      has_inputs = true;
    } else if (key == "models") {
      TBMS_RETURN_IF_ERROR(ReadModels(value, find, limits, &request));
      has_models = true;
    } else if (key == "tloc") {
      double ms;
      TBMS_RETURN_IF_ERROR(ReadNumber(value, "tloc", 0, limits.max_tloc_ms, &ms));
      if (ms <= 0) return InvalidArgument("tloc must be > 0 (milliseconds)");
      request.tloc = Millis(ms);
      has_tloc = true;
    } else if (key == "crossRequest") {
      TBMS_RETURN_IF_ERROR(ReadInt(value, "crossRequest", 0, limits.max_cross_request,
                                   &request.cross_request));
    } else if (key == "crossLag") {
      double ms;
      TBMS_RETURN_IF_ERROR(ReadNumber(value, "crossLag", 0, limits.max_tloc_ms, &ms));
      request.cross_lag = Millis(ms);
    } else if (key == "priority") {
      TBMS_RETURN_IF_ERROR(ReadInt(value, "priority", -limits.max_priority, limits.max_priority,
                                   &request.priority));
    } else {
      return InvalidArgument("unknown field " + Quote(key) +
                             " (expected inputs, models, tloc, crossRequest, crossLag, priority)");
    }
  }
  if (!has_inputs) return InvalidArgument("inputs is required, e.g. {\"question\": \"...\"}");
  if (!has_models) return InvalidArgument("models is required");
  if (!has_tloc) return InvalidArgument("tloc is required (milliseconds)");
  request.inputs = std::move(inputs);
  return request;
}

void WriteTryResult(const TryResult& r, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("answer");
  if (r.answer) w.Raw(*r.answer); else w.Null();
  w.Key("model");
  if (r.rank >= 0) w.String(r.model); else w.Null();
  w.Key("rank");
  if (r.rank >= 0) w.Int(r.rank); else w.Null();
  w.Key("downgraded").Bool(r.downgraded);
  w.Key("reason");
  if (r.reason != Reason::kNone) w.String(ReasonName(r.reason)); else w.Null();
  w.Key("elapsed_ms").Number(ToMillis(r.elapsed));
  w.Key("attempts").BeginArray();
  for (const AttemptReport& a : r.attempts) {
    w.BeginObject();
    w.Key("model").String(a.model);
    w.Key("rank").Int(a.rank);
    w.Key("state").String(AttemptStateName(a.state));
    w.Key("started_ms").Number(ToMillis(a.started));
    w.Key("latency_ms").Number(ToMillis(a.latency));
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

std::string ErrorJson(std::string_view message) {
  std::string out;
  JsonWriter(out).BeginObject().Key("error").String(message).EndObject();
  return out;
}

}  // namespace tbms
