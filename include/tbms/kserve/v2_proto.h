// The gRPC codec of the KServe v2 API (Open Inference Protocol,
// proto/kserve/grpc_service.proto): infer requests and responses between
// their protobuf messages and TBMS's InferRequest / InferResponse (infer.h),
// with the same checks as the JSON codec. A tensor's data comes either as
// typed `contents` or as raw bytes (raw_input_contents, one entry per
// input), never both in one message; FP16 has no typed field, so it is raw.
// Every error is INVALID_ARGUMENT naming the field. Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "kserve/grpc_service.pb.h"
#include "tbms/common/status.h"
#include "tbms/kserve/infer.h"

namespace tbms {

using ProtoParameters = google::protobuf::Map<std::string, inference::InferParameter>;

// parameters[key] (`at` names the map in errors): nullopt when absent,
// INVALID_ARGUMENT when it is of another kind or out of [lo, hi].
StatusOr<std::optional<int64_t>> IntParameter(const ProtoParameters& parameters, std::string_view at,
                                              const std::string& key, int64_t lo, int64_t hi);
StatusOr<std::optional<std::string>> StringParameter(const ProtoParameters& parameters, std::string_view at,
                                                     const std::string& key);

// The request's tensors, id, requested outputs, and TBMS's parameters tloc
// (int64_param, milliseconds) and priority; other parameters are the
// model's and are left alone. model_name and model_version are the caller's.
StatusOr<InferRequest> FromProto(const inference::ModelInferRequest& m, const TensorLimits& limits = {});
// `raw`: the outputs' data in raw_output_contents (as Triton answers);
// else in typed contents, but for FP16, which has none (then all are raw).
void ToProto(const InferResponse& r, bool raw, inference::ModelInferResponse* out);

// The client side, for remote models: a request goes out raw; a response
// is read in either form.
void ToProto(const InferRequest& r, inference::ModelInferRequest* out);
StatusOr<InferResponse> FromProto(const inference::ModelInferResponse& m, const TensorLimits& limits = {});

}  // namespace tbms
