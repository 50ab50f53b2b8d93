// The gRPC edge of a try: a ModelInfer whose model_name is "try" (the REST
// edge's /v1/instances/{instance}/try). Its parameters carry the try in the
// JSON try's words: instance (string; an instance key's own by default),
// task (string) or models (string "embedding:35,svm@2,bayes": name,
// optional @version, optional :est in ms), tloc, crossRequest, crossLag,
// priority (int64, ms where a time), hedge (string). Its inputs are v2
// tensors; a one-element BYTES tensor "question" gives the question. The
// response's only output is "answer" (BYTES [1], the answer's JSON text)
// when there is one, and its parameters say model, version, rank,
// downgraded, reason, elapsed_us and attempts (a JSON array as REST's).
// docs/api.md, "gRPC". Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kserve/grpc_service.pb.h"
#include "tbms/server/gate.h"
#include "tbms/server/try_fields.h"

namespace tbms {

inline constexpr std::string_view kTryModelName = "try";

bool IsTry(const inference::ModelInferRequest& m);

// The instance a try is for: parameters.instance, else the caller's own.
// INVALID_ARGUMENT when neither names one (an admin must), PERMISSION_DENIED
// when an instance key names another.
StatusOr<std::string> TryInstance(const inference::ModelInferRequest& m, const Caller& caller);

// As ParseTryRequest (try_json.h), from a ModelInfer.
StatusOr<ParsedTry> ParseTryProto(const inference::ModelInferRequest& m, std::shared_ptr<const ModelTable> table,
                                  std::string_view instance, const TryLimits& limits = {});

void WriteTryProto(const TryResult& result, std::string_view id, inference::ModelInferResponse* out);

}  // namespace tbms
