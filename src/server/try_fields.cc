#include "tbms/server/try_fields.h"

#include <simdjson.h>

namespace tbms {
namespace {

// A task's candidates and defaults; settings the try gave win.
Status ApplyTask(const TaskConfig& task, const ModelTable& table, const TryGiven& given, TryRequest* request) {
  for (const std::string& name : task.models) {
    TBMS_RETURN_IF_ERROR(table.AddCandidate(name, {}, std::nullopt, request));
  }
  if (!given.tloc) request->tloc = task.tloc;
  if (!given.cross_request) request->cross_request = task.cross_request;
  if (!given.cross_lag) request->cross_lag = task.cross_lag;
  if (!given.priority) request->priority = task.priority;
  if (!given.hedge) request->hedge = task.hedge;
  return OkStatus();
}

}  // namespace

Status CheckText(std::string_view text, std::string_view what) {
  if (simdjson::validate_utf8(text.data(), text.size())) return OkStatus();
  return InvalidArgument(std::string(what) + " is not valid UTF-8");
}

StatusOr<std::string_view> TensorQuestion(const std::vector<Tensor>& tensors, const TryLimits& limits) {
  const Tensor* question = nullptr;
  for (const Tensor& t : tensors) {
    if (t.name != "question") continue;
    if (question != nullptr) return InvalidArgument("inputs has two tensors named 'question'");
    question = &t;
  }
  if (question == nullptr) return InvalidArgument("inputs needs a tensor named 'question' (BYTES, one element)");
  if (question->datatype != DataType::kBytes || question->ElementCount() != 1) {
    return InvalidArgument("inputs 'question' must be one BYTES element, not " +
                           std::string(DataTypeName(question->datatype)) + " " + ShapeText(question->shape));
  }
  const std::string_view q = question->Strings()[0];
  if (q.empty()) return InvalidArgument("inputs 'question' must not be empty");
  if (q.size() > limits.max_question_bytes) {
    return InvalidArgument("inputs 'question' is longer than " + std::to_string(limits.max_question_bytes) + " bytes");
  }
  TBMS_RETURN_IF_ERROR(CheckText(q, "inputs 'question'"));
  return q;
}

StatusOr<ParsedTry> BeginTry(const ModelTable& table, std::string_view instance) {
  StatusOr<const InstanceConfig*> config = table.FindInstance(instance);
  if (!config.ok()) return config.status();
  ParsedTry parsed;
  parsed.instance = *config;
  return parsed;
}

Status FinishTry(const TryGiven& given, std::shared_ptr<const ModelTable> table, std::shared_ptr<const void> owner,
                 std::shared_ptr<Inputs> inputs, std::string_view instance, ParsedTry* parsed) {
  if (given.candidate_lists == 0) return InvalidArgument("models is required (or mixes, or a task)");
  if (given.candidate_lists > 1) return InvalidArgument("give one of models, mixes and task");
  TryRequest& request = parsed->request;
  if (!parsed->task.empty()) {
    auto task = table->FindTask(instance, parsed->task);
    if (!task.ok()) return task.status();
    TBMS_RETURN_IF_ERROR(ApplyTask(**task, *table, given, &request));
  } else if (!given.tloc) {
    return InvalidArgument("tloc is required (milliseconds)");
  }
  request.inputs = std::move(inputs);
  request.owner = owner ? std::move(owner) : std::shared_ptr<const void>(std::move(table));
  return OkStatus();
}

}  // namespace tbms
