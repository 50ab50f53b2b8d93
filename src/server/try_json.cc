#include "tbms/server/try_json.h"

#include <simdjson.h>

#include <cmath>
#include <deque>
#include <optional>

#include "tbms/common/json_writer.h"
#include "tbms/kserve/v2_json.h"
#include "tbms/common/json_fields.h"

namespace tbms {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// The inputs of a try: {"question": "..."} or a list of v2 tensors, where a
// one-element BYTES tensor named "question" also gives the question.
Status ReadInputs(element e, const TryLimits& limits, Inputs* inputs) {
  simdjson::dom::array tensors;
  if (e.get_array().get(tensors) == simdjson::SUCCESS) {
    if (tensors.size() == 0) return InvalidArgument("inputs must not be empty");
    if (tensors.size() > limits.tensors.max_tensors) {
      return InvalidArgument("inputs has more than " + std::to_string(limits.tensors.max_tensors) + " tensors");
    }
    size_t i = 0;
    for (element t : tensors) {
      Tensor& tensor = inputs->tensors.emplace_back();
      TBMS_RETURN_IF_ERROR(ReadTensor(t, "inputs[" + std::to_string(i++) + "]", limits.tensors, &tensor));
    }
    StatusOr<std::string_view> question = TensorQuestion(inputs->tensors, limits);
    if (!question.ok()) return question.status();
    inputs->question.assign(*question);
    return OkStatus();
  }
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) {
    return InvalidArgument("inputs must be an object like {\"question\": \"...\"} or a list of tensors");
  }
  bool has_question = false;
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, "inputs"));
  for (auto [key, value] : obj) {
    if (key != "question") continue;  // other inputs are carried for backends that read them
    std::string_view q;
    if (value.get_string().get(q) != simdjson::SUCCESS) {
      return InvalidArgument("inputs.question must be a string");
    }
    if (q.empty()) return InvalidArgument("inputs.question must not be empty");
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

// {"name": "svm", "est": 25, "version": "2"}: a model (or a house mix).
struct ModelRef {
  std::string_view name, version;
  std::optional<Duration> est;
};

Status ReadModelRef(element e, const std::string& at, const TryLimits& limits, ModelRef* out) {
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) {
    return InvalidArgument(at + " must be an object like {\"name\": \"svm\", \"est\": 25}");
  }
  bool has_name = false;
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, at));
  for (auto [key, value] : obj) {
    if (key == "name") {
      if (value.get_string().get(out->name) != simdjson::SUCCESS || out->name.empty()) {
        return InvalidArgument(at + ".name must be a non-empty string");
      }
      has_name = true;
    } else if (key == "est") {
      double ms;
      TBMS_RETURN_IF_ERROR(ReadNumber(value, at + ".est", 0, limits.max_est_ms, &ms));
      out->est = Millis(ms);
    } else if (key == "version") {
      if (value.get_string().get(out->version) != simdjson::SUCCESS) {
        return InvalidArgument(at + ".version must be a string");
      }
    } else {
      return InvalidArgument(at + ": unknown field " + Quote(key) + " (expected name, est, version)");
    }
  }
  if (!has_name) return InvalidArgument(at + ".name is required");
  return OkStatus();
}

// A list of candidates: "models" (model or mix names) or "mixes" (ad hoc).
Status ReadList(element e, std::string_view field, const TryLimits& limits, simdjson::dom::array* out) {
  if (e.get_array().get(*out) != simdjson::SUCCESS) {
    return InvalidArgument(std::string(field) + " must be an array");
  }
  const size_t n = out->size();
  if (n == 0) return InvalidArgument(std::string(field) + " must not be empty");
  if (n > limits.max_candidates) {
    return InvalidArgument(std::string(field) + " has " + std::to_string(n) + " entries, at most " +
                           std::to_string(limits.max_candidates) + " are allowed");
  }
  return OkStatus();
}

Status ReadModels(element e, const ModelTable& table, const InstanceConfig* instance, const TryLimits& limits,
                  TryRequest* request) {
  simdjson::dom::array arr;
  TBMS_RETURN_IF_ERROR(ReadList(e, "models", limits, &arr));
  request->candidates.reserve(request->candidates.size() + arr.size());  // a mix adds more members
  request->members.reserve(request->members.size() + arr.size());
  size_t i = 0;
  for (element m : arr) {
    ModelRef ref;
    TBMS_RETURN_IF_ERROR(ReadModelRef(m, "models[" + std::to_string(i++) + "]", limits, &ref));
    TBMS_RETURN_IF_ERROR(CheckAllowed(instance, ref.name));
    TBMS_RETURN_IF_ERROR(table.AddCandidate(ref.name, ref.version, ref.est, request));
  }
  return OkStatus();
}

// Names given in the request that candidates point to (ad hoc mixes).
struct TryOwner {
  std::shared_ptr<const ModelTable> table;
  std::deque<std::string> names;  // a deque: adding never moves the others
};

// {"name": "mix1", "members": [{"name": "embedding", "est": 35}, ...], "aggregator": "max"}
Status ReadMix(element e, const std::string& at, const ModelTable& table, const InstanceConfig* instance,
               const TryLimits& limits, TryOwner* owner, TryRequest* request) {
  object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) {
    return InvalidArgument(at + " must be an object like {\"name\": \"mix1\", \"members\": [...], "
                                "\"aggregator\": \"max\"}");
  }
  std::string_view name;
  std::vector<ModelTable::MixMember> members;
  std::optional<Aggregator> aggregator;
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, at));
  for (auto [key, value] : obj) {
    if (key == "name") {
      if (value.get_string().get(name) != simdjson::SUCCESS || name.empty() || name.size() > 128) {
        return InvalidArgument(at + ".name must be a string of 1-128 bytes");
      }
    } else if (key == "aggregator") {
      std::string_view agg;
      if (value.get_string().get(agg) != simdjson::SUCCESS) return InvalidArgument(at + ".aggregator must be a string");
      auto parsed = ParseAggregator(agg);
      if (!parsed.ok()) return InvalidArgument(at + ".aggregator: " + parsed.status().message());
      aggregator = *parsed;
    } else if (key == "members") {
      simdjson::dom::array arr;
      if (value.get_array().get(arr) != simdjson::SUCCESS || arr.size() == 0 ||
          arr.size() > limits.max_mix_members) {
        return InvalidArgument(at + ".members must be an array of 1-" + std::to_string(limits.max_mix_members) +
                               " models");
      }
      size_t i = 0;
      for (element m : arr) {
        ModelRef ref;
        TBMS_RETURN_IF_ERROR(ReadModelRef(m, at + ".members[" + std::to_string(i++) + "]", limits, &ref));
        TBMS_RETURN_IF_ERROR(CheckAllowed(instance, ref.name));
        members.push_back({ref.name, ref.version, ref.est});
      }
    } else {
      return InvalidArgument(at + ": unknown field " + Quote(key) + " (expected name, members, aggregator)");
    }
  }
  if (name.empty()) return InvalidArgument(at + ".name is required");
  if (members.empty()) return InvalidArgument(at + ".members is required");
  if (!aggregator) return InvalidArgument(at + ".aggregator is required (max, avg or vote)");
  const std::string& owned = owner->names.emplace_back(name);
  return table.AddMix(owned, members, *aggregator, request);
}

Status ReadMixes(element e, const ModelTable& table, const InstanceConfig* instance, const TryLimits& limits,
                 TryOwner* owner, TryRequest* request) {
  simdjson::dom::array arr;
  TBMS_RETURN_IF_ERROR(ReadList(e, "mixes", limits, &arr));
  size_t i = 0;
  for (element m : arr) {
    TBMS_RETURN_IF_ERROR(ReadMix(m, "mixes[" + std::to_string(i++) + "]", table, instance, limits, owner, request));
  }
  return OkStatus();
}

}  // namespace

StatusOr<ParsedTry> ParseTryRequest(std::string_view body, std::shared_ptr<const ModelTable> table,
                                    std::string_view instance, const TryLimits& limits) {
  element root;
  TBMS_RETURN_IF_ERROR(ParseBody(body, &root));
  object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) {
    return InvalidArgument("the body must be a JSON object");
  }
  StatusOr<ParsedTry> begun = BeginTry(*table, instance);
  if (!begun.ok()) return begun.status();
  ParsedTry& parsed = *begun;
  TryRequest& request = parsed.request;
  auto inputs = std::make_shared<Inputs>();
  std::shared_ptr<TryOwner> owner;
  bool has_inputs = false;
  TryGiven given;
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, ""));
  for (auto [key, value] : obj) {
    if (key == "inputs") {
      TBMS_RETURN_IF_ERROR(ReadInputs(value, limits, inputs.get()));
      has_inputs = true;
    } else if (key == "models") {
      TBMS_RETURN_IF_ERROR(ReadModels(value, *table, parsed.instance, limits, &request));
      ++given.candidate_lists;
    } else if (key == "mixes") {
      if (!owner) owner = std::make_shared<TryOwner>(TryOwner{table, {}});
      TBMS_RETURN_IF_ERROR(ReadMixes(value, *table, parsed.instance, limits, owner.get(), &request));
      ++given.candidate_lists;
    } else if (key == "task") {
      std::string_view task;
      if (value.get_string().get(task) != simdjson::SUCCESS) return InvalidArgument("task must be a string");
      parsed.task.assign(task);
      ++given.candidate_lists;
    } else if (key == "tloc") {
      TBMS_RETURN_IF_ERROR(ReadMs(value, "tloc", /*positive=*/true, limits::kMaxTlocMs, &request.tloc));
      given.tloc = true;
    } else if (key == "crossRequest") {
      TBMS_RETURN_IF_ERROR(ReadInt(value, "crossRequest", 0, limits::kMaxCrossRequest,
                                   &request.cross_request));
      given.cross_request = true;
    } else if (key == "crossLag") {
      TBMS_RETURN_IF_ERROR(ReadMs(value, "crossLag", /*positive=*/false, limits::kMaxCrossLagMs, &request.cross_lag));
      given.cross_lag = true;
    } else if (key == "priority") {
      TBMS_RETURN_IF_ERROR(ReadInt(value, "priority", -limits::kMaxPriority, limits::kMaxPriority,
                                   &request.priority));
      given.priority = true;
    } else if (key == "hedge") {
      std::string_view hedge;
      if (value.get_string().get(hedge) != simdjson::SUCCESS) return InvalidArgument("hedge must be a string");
      const std::optional<Hedge> parsed_hedge = ParseHedge(hedge);
      if (!parsed_hedge) return InvalidArgument("hedge must be " + std::string(kHedgeChoices));
      request.hedge = *parsed_hedge;
      given.hedge = true;
    } else {
      return InvalidArgument("unknown field " + Quote(key) +
                             " (expected inputs, models, mixes, task, tloc, crossRequest, crossLag, priority, hedge)");
    }
  }
  if (!has_inputs) return InvalidArgument("inputs is required, e.g. {\"question\": \"...\"}");
  TBMS_RETURN_IF_ERROR(FinishTry(given, std::move(table), std::move(owner), std::move(inputs), instance, &parsed));
  return std::move(begun).value();
}

Status ParseMixesJson(std::string_view json, std::shared_ptr<const ModelTable> table, const InstanceConfig* instance,
                      const TryLimits& limits, std::shared_ptr<const void>* owner, TryRequest* request) {
  element root;
  TBMS_RETURN_IF_ERROR(ParseBody(json, &root));
  auto names = std::make_shared<TryOwner>(TryOwner{table, {}});
  TBMS_RETURN_IF_ERROR(ReadMixes(root, *table, instance, limits, names.get(), request));
  *owner = std::move(names);
  return OkStatus();
}

void WriteTryResult(const TryResult& r, std::string& out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("answer");
  if (r.answer) w.Raw(*r.answer); else w.Null();
  w.Key("model");
  if (r.rank >= 0) w.String(r.model); else w.Null();
  if (!r.version.empty()) w.Key("version").String(r.version);
  w.Key("rank");
  if (r.rank >= 0) w.Int(r.rank); else w.Null();
  w.Key("downgraded").Bool(r.downgraded);
  w.Key("reason");
  if (r.reason != Reason::kNone) w.String(ReasonName(r.reason)); else w.Null();
  w.Key("elapsed_ms").Number(ToMillis(r.elapsed));
  w.Key("attempts");
  WriteAttempts(r.attempts, w);
  w.EndObject();
}

void WriteAttempts(const std::vector<AttemptReport>& attempts, JsonWriter& w) {
  w.BeginArray();
  for (const AttemptReport& a : attempts) {
    w.BeginObject();
    w.Key("model").String(a.model);
    if (!a.version.empty()) w.Key("version").String(a.version);
    w.Key("rank").Int(a.rank);
    w.Key("state").String(AttemptStateName(a.state));
    w.Key("started_ms").Number(ToMillis(a.started));
    w.Key("latency_ms").Number(ToMillis(a.latency));
    if (!a.error.empty()) w.Key("error").String(a.error);
    w.EndObject();
  }
  w.EndArray();
}

std::string ErrorJson(std::string_view message) {
  std::string out;
  JsonWriter(out).BeginObject().Key("error").String(message).EndObject();
  return out;
}

}  // namespace tbms
