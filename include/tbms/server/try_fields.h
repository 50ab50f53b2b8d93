// A try as every edge reads it (JSON: try_json.h; gRPC: try_proto.h): the
// sizes an edge bounds, what parsing gives, and the one set of rules that
// completes a request into a try, so both edges accept the same tries.
// Field names and limits are documented in docs/api.md. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tbms/broker/limits.h"
#include "tbms/broker/try.h"
#include "tbms/common/status.h"
#include "tbms/kserve/infer.h"
#include "tbms/server/model_table.h"

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

// Which settings the request gave itself (a task's defaults fill the others)
// and how many candidate lists (models, mixes, task) it named.
struct TryGiven {
  bool tloc = false, cross_request = false, cross_lag = false, priority = false, hedge = false;
  int candidate_lists = 0;
};

// INVALID_ARGUMENT naming `what` unless `text` is valid UTF-8: a question
// is text, and the answers that quote it are JSON.
Status CheckText(std::string_view text, std::string_view what);

// The question of a try whose inputs are v2 tensors: the one tensor named
// "question", one non-empty BYTES element of at most max_question_bytes,
// valid UTF-8; INVALID_ARGUMENT saying which rule it breaks.
StatusOr<std::string_view> TensorQuestion(const std::vector<Tensor>& tensors, const TryLimits& limits);

// A try of `instance` in `table`: NOT_FOUND for an unknown instance.
StatusOr<ParsedTry> BeginTry(const ModelTable& table, std::string_view instance);

// Completes `parsed`: exactly one candidate list; a task's candidates and
// defaults (NOT_FOUND for an unknown task); tloc required without one; the
// inputs; and what keeps the try's table alive (`owner`, or else `table`).
Status FinishTry(const TryGiven& given, std::shared_ptr<const ModelTable> table, std::shared_ptr<const void> owner,
                 std::shared_ptr<Inputs> inputs, std::string_view instance, ParsedTry* parsed);

}  // namespace tbms
