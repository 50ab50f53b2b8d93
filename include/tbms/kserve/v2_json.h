// The JSON codec of the KServe v2 (Open Inference Protocol) REST API: infer
// requests and responses with JSON tensors of every datatype of the spec.
// Shapes and datatypes are checked; every error is INVALID_ARGUMENT naming
// the field (e.g. "inputs[0].data: expected 6 elements for shape [2,3], got 5").
// Thread-safe (a parser per thread).
#pragma once

#include <simdjson.h>

#include <optional>
#include <string>
#include <string_view>

#include "tbms/common/status.h"
#include "tbms/common/tensor_json.h"
#include "tbms/kserve/infer.h"

namespace tbms {

// The binary section of a REST request (the binary tensor data extension):
// the body's bytes after its JSON, handed out in the order the inputs that
// give parameters.binary_data_size come.
struct BinarySection {
  std::string_view bytes;
  size_t used = 0;
};

// One v2 tensor object: {"name", "shape", "datatype", "data", "parameters"?}.
// `data` may be flat or nested (row-major); it must hold exactly
// product(shape) elements of the datatype's range. `at` prefixes errors.
// Integer types also take integral numbers written as 2.0 or 1e3, up to
// 2^53; FP16 and FP32 round to nearest even, and a value that would round
// to infinity is an error. (JSON has no NaN or infinity.) With `binary`, a
// tensor may instead give "parameters": {"binary_data_size": N} and no
// "data": its next N bytes of the section, raw (tensor.h's layout); other
// tensor parameters are accepted and ignored.
Status ReadTensor(simdjson::dom::element e, std::string_view at, const TensorLimits& limits, Tensor* out,
                  BinarySection* binary = nullptr);

// A v2 infer request body. With `json_length` (the request's
// Inference-Header-Content-Length header), the body is that many bytes of
// JSON and then the inputs' binary data, all of which must be used.
StatusOr<InferRequest> ParseInferRequest(std::string_view body, const TensorLimits& limits = {},
                                         std::optional<size_t> json_length = std::nullopt);
// A server's infer response (the client side, for remote models): its
// outputs checked as request inputs are; other fields are not needed.
StatusOr<InferResponse> ParseInferResponse(std::string_view body, const TensorLimits& limits = {});

// Appends a tensor object {"name","datatype","shape","data"}: flat data,
// written by AppendTensorData (tensor_json.h). NaN and infinities, which
// JSON cannot carry, are written as null, so such a tensor does not read back.
void AppendTensorJson(const Tensor& t, std::string& out);

// A model's answer (a JSON value) as an output tensor of `datatype`: a
// number or boolean becomes shape [1], a (nested) array of them a tensor of
// the array's shape. For BYTES, a string or (nested) array of strings does
// likewise, and any other value becomes one element holding its JSON text.
// INVALID_ARGUMENT when it does not fit (or is not JSON).
StatusOr<Tensor> AnswerTensor(std::string_view answer_json, std::string name, DataType datatype);

// Appends the response body; the outputs `binary` wants go after the JSON as
// raw bytes (each with parameters.binary_data_size, no "data"). Returns the
// JSON's length: the Inference-Header-Content-Length to send when any output
// is binary (then it is less than what was appended).
size_t WriteInferResponse(const InferResponse& r, std::string& out, const BinaryOutputs& binary = {});
// The request as a client sends it: {"id"?, "parameters"?, "inputs", "outputs"?}.
void WriteInferRequest(const InferRequest& r, std::string& out);

}  // namespace tbms
