#include "tbms/server/try_fields.h"

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
