#include "tbms/server/try_proto.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "tbms/common/json_fields.h"
#include "tbms/common/names.h"
#include "tbms/kserve/v2_proto.h"
#include "tbms/server/try_json.h"

namespace tbms {
namespace {

constexpr std::string_view kAt = "parameters";
constexpr std::array<std::string_view, 9> kParameters = {"instance", "task",     "models",   "mixes", "tloc",
                                                          "crossRequest", "crossLag", "priority", "hedge"};

// "name[@version][:est]" entries, comma-separated, into candidates.
Status ReadModels(std::string_view list, const ModelTable& table, const InstanceConfig* instance,
                  const TryLimits& limits, TryRequest* request) {
  size_t n = 0;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const std::string at = "parameters.models[" + std::to_string(n) + "]";
    if (++n > limits.max_candidates) {
      return InvalidArgument("parameters.models has more than " + std::to_string(limits.max_candidates) +
                             " entries");
    }
    std::optional<Duration> est;
    if (const size_t colon = entry.find(':'); colon != std::string_view::npos) {
      const std::string_view text = entry.substr(colon + 1);
      double ms = -1;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), ms);
      if (ec != std::errc() || end != text.data() + text.size() || !(ms >= 0 && ms <= limits.max_est_ms)) {
        return InvalidArgument(at + ": est " + Quote(text) + " must be milliseconds in [0, " +
                               std::to_string(static_cast<int64_t>(limits.max_est_ms)) + "]");
      }
      est = Millis(ms);
      entry = entry.substr(0, colon);
    }
    std::string_view version;
    if (const size_t at_sign = entry.find('@'); at_sign != std::string_view::npos) {
      version = entry.substr(at_sign + 1);
      entry = entry.substr(0, at_sign);
    }
    if (entry.empty()) return InvalidArgument(at + " must be name[@version][:est_ms], e.g. svm:25");
    TBMS_RETURN_IF_ERROR(CheckAllowed(instance, entry));
    TBMS_RETURN_IF_ERROR(table.AddCandidate(entry, version, est, request));
  }
  if (n == 0) return InvalidArgument("parameters.models must not be empty");
  return OkStatus();
}

// An int64 parameter in [lo, hi] into *out; `given` says it was there.
template <typename T>
Status ReadInt(const ProtoParameters& p, const std::string& key, int64_t lo, int64_t hi, T* out, bool* given) {
  auto v = IntParameter(p, kAt, key, lo, hi);
  if (!v.ok()) return v.status();
  if (!*v) return OkStatus();
  *given = true;
  if constexpr (std::is_same_v<T, Duration>) {
    *out = Millis(static_cast<double>(**v));
  } else {
    *out = static_cast<T>(**v);
  }
  return OkStatus();
}

Status ReadSettings(const ProtoParameters& p, TryGiven* given, TryRequest* request) {
  TBMS_RETURN_IF_ERROR(ReadInt(p, "tloc", 1, static_cast<int64_t>(limits::kMaxTlocMs), &request->tloc, &given->tloc));
  TBMS_RETURN_IF_ERROR(ReadInt(p, "crossRequest", 0, limits::kMaxCrossRequest, &request->cross_request,
                               &given->cross_request));
  TBMS_RETURN_IF_ERROR(ReadInt(p, "crossLag", 0, static_cast<int64_t>(limits::kMaxCrossLagMs), &request->cross_lag,
                               &given->cross_lag));
  TBMS_RETURN_IF_ERROR(ReadInt(p, "priority", -limits::kMaxPriority, limits::kMaxPriority, &request->priority,
                               &given->priority));
  auto hedge = StringParameter(p, kAt, "hedge");
  if (!hedge.ok()) return hedge.status();
  if (*hedge) {
    const std::optional<Hedge> parsed = ParseHedge(**hedge);
    if (!parsed) return InvalidArgument("parameters.hedge must be " + std::string(kHedgeChoices));
    request->hedge = *parsed;
    given->hedge = true;
  }
  return OkStatus();
}

void SetString(inference::ModelInferResponse* out, const std::string& key, std::string_view value) {
  (*out->mutable_parameters())[key].set_string_param(std::string(value));
}

}  // namespace

bool IsTry(const inference::ModelInferRequest& m) { return m.model_name() == kTryModelName; }

StatusOr<std::string> TryInstance(const inference::ModelInferRequest& m, const Caller& caller) {
  auto named = StringParameter(m.parameters(), kAt, "instance");
  if (!named.ok()) return named.status();
  if (!*named) {
    if (caller.instance.empty()) {
      return InvalidArgument("parameters.instance is required: which instance's try this is");
    }
    return caller.instance;
  }
  if (!IsValidName(**named)) {
    return InvalidArgument("parameters.instance must be " + std::string(kNameRule));
  }
  if (!caller.admin && caller.instance != **named) {
    return PermissionDenied("this access key opens instance '" + caller.instance + "', not " + Quote(**named));
  }
  return **named;
}

StatusOr<ParsedTry> ParseTryProto(const inference::ModelInferRequest& m, std::shared_ptr<const ModelTable> table,
                                  std::string_view instance, const TryLimits& limits) {
  for (const auto& [key, value] : m.parameters()) {
    if (std::find(kParameters.begin(), kParameters.end(), key) == kParameters.end()) {
      return InvalidArgument("parameters: unknown parameter " + Quote(key) +
                             " for a try (expected instance, task, models, mixes, tloc, crossRequest, crossLag, "
                             "priority, hedge)");
    }
  }
  if (!m.model_version().empty()) {
    return InvalidArgument("a try has no model_version; pin a version in parameters.models (name@version)");
  }
  for (const auto& o : m.outputs()) {
    if (o.name() != "answer") return InvalidArgument("a try has one output, \"answer\", not " + Quote(o.name()));
  }
  StatusOr<ParsedTry> begun = BeginTry(*table, instance);
  if (!begun.ok()) return begun.status();
  ParsedTry& parsed = *begun;
  TryGiven given;
  TBMS_RETURN_IF_ERROR(ReadSettings(m.parameters(), &given, &parsed.request));
  auto task = StringParameter(m.parameters(), kAt, "task");
  if (!task.ok()) return task.status();
  auto models = StringParameter(m.parameters(), kAt, "models");
  if (!models.ok()) return models.status();
  if (*task) {
    parsed.task = **task;
    ++given.candidate_lists;
  }
  if (*models) {
    TBMS_RETURN_IF_ERROR(ReadModels(**models, *table, parsed.instance, limits, &parsed.request));
    ++given.candidate_lists;
  }
  auto mixes = StringParameter(m.parameters(), kAt, "mixes");
  if (!mixes.ok()) return mixes.status();
  std::shared_ptr<const void> owner;  // the ad hoc mixes' names, with the table
  if (*mixes) {
    Status read = ParseMixesJson(**mixes, table, parsed.instance, limits, &owner, &parsed.request);
    if (!read.ok()) return Status(read.code(), "parameters.mixes: " + read.message());
    ++given.candidate_lists;
  }
  if (given.candidate_lists == 0) {
    return InvalidArgument("parameters.task, parameters.models or parameters.mixes is required");
  }
  if (given.candidate_lists > 1) return InvalidArgument("give one of parameters.task, parameters.models and parameters.mixes");

  StatusOr<InferRequest> tensors = FromProto(m, limits.tensors);
  if (!tensors.ok()) return tensors.status();
  auto inputs = std::make_shared<Inputs>();
  inputs->tensors = std::move(tensors->inputs);
  StatusOr<std::string_view> question = TensorQuestion(inputs->tensors, limits);
  if (!question.ok()) return question.status();
  inputs->question.assign(*question);
  TBMS_RETURN_IF_ERROR(FinishTry(given, std::move(table), std::move(owner), std::move(inputs), instance, &parsed));
  return std::move(begun).value();
}

void WriteTryProto(const TryResult& r, std::string_view id, inference::ModelInferResponse* out) {
  const bool answered = r.rank >= 0 && r.answer.has_value();
  out->set_model_name(answered ? std::string(r.model) : std::string(kTryModelName));
  out->set_model_version(std::string(r.version));
  out->set_id(std::string(id));
  auto& p = *out->mutable_parameters();
  if (r.rank >= 0) {
    SetString(out, "model", r.model);
    if (!r.version.empty()) SetString(out, "version", r.version);
    p["rank"].set_int64_param(r.rank);
  }
  p["downgraded"].set_bool_param(r.downgraded);
  if (r.reason != Reason::kNone) SetString(out, "reason", ReasonName(r.reason));
  p["elapsed_us"].set_int64_param(std::chrono::duration_cast<std::chrono::microseconds>(r.elapsed).count());
  std::string attempts;
  JsonWriter w(attempts);
  WriteAttempts(r.attempts, w);
  SetString(out, "attempts", attempts);
  if (answered) {
    auto* t = out->add_outputs();
    t->set_name("answer");
    t->set_datatype("BYTES");
    t->add_shape(1);
    t->mutable_contents()->add_bytes_contents(*r.answer);
  }
}

}  // namespace tbms
