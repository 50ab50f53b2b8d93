// The JSON edge of POST /v1/instances/{instance}/try: parses and validates a
// request into a TryRequest, and writes a TryResult. Field names and limits
// are documented in docs/api.md. Thread-safe (a parser per thread).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "tbms/broker/limits.h"
#include "tbms/broker/try.h"
#include "tbms/common/status.h"
#include "tbms/server/model_table.h"
#include "tbms/kserve/v2_json.h"

namespace tbms {

// Sizes the edge bounds. The bounds of tloc, crossRequest, crossLag and
// priority are the broker's (tbms/broker/limits.h), the same at every door.
struct TryLimits {
  size_t max_candidates = limits::kMaxCandidates;
  double max_est_ms = 600'000;
  size_t max_question_bytes = 64 * 1024;
  size_t max_mix_members = 32;
  TensorLimits tensors;
};

struct ParsedTry {
  TryRequest request;
  std::string task;  // the task it named, if any
  const InstanceConfig* instance = nullptr;  // in the table the request holds; null: undeclared
};

// Parses a try against `table` (which the request then holds, see
// TryRequest::owner) for `instance`: candidates from "models", "mixes" or a
// "task" of the instance (whose tloc, crossRequest, crossLag and priority the
// try may override). INVALID_ARGUMENT naming the offending field; NOT_FOUND
// for an unknown instance, model, version or task; PERMISSION_DENIED for a
// model the instance may not use; UNAVAILABLE for a model not loaded.
StatusOr<ParsedTry> ParseTryRequest(std::string_view body, std::shared_ptr<const ModelTable> table,
                                    std::string_view instance, const TryLimits& limits = {});

// Appends the result as the response body.
void WriteTryResult(const TryResult& result, std::string& out);

// {"error": "<message>"}
std::string ErrorJson(std::string_view message);

}  // namespace tbms
