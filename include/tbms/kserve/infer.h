// The KServe v2 (Open Inference Protocol) infer request and response as
// TBMS holds them, whatever the wire (REST JSON, v2_json.h; gRPC,
// v2_proto.h), and the limits every decoder enforces. Plain value types.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/common/status.h"
#include "tbms/common/tensor.h"
#include "tbms/common/time.h"

namespace tbms {

struct TensorLimits {
  size_t max_tensors = 64;
  size_t max_elements = 1 << 20;  // per tensor
  size_t max_rank = 8;
  size_t max_bytes = 64 << 20;    // per tensor, in its internal form
};

// Which outputs a REST request asked for as raw bytes (the binary tensor
// data extension: parameters.binary_data_output, or an output's
// parameters.binary_data). gRPC answers in the form it was asked in instead.
struct BinaryOutputs {
  bool all = false;
  std::vector<std::string> names;

  bool any() const { return all || !names.empty(); }
  bool Wants(std::string_view name) const {
    return all || std::find(names.begin(), names.end(), name) != names.end();
  }
};

struct InferRequest {
  std::string id;                    // echoed in the response when given
  std::vector<Tensor> inputs;
  std::vector<std::string> outputs;  // requested output names; empty: all
  // TBMS's parameters ("parameters": {"tloc": 50, "priority": 1}): the
  // request's time budget (none: the server's default) and priority.
  std::optional<Duration> tloc;
  int priority = 0;
  BinaryOutputs binary_outputs;  // REST only
};

struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;  // omitted when empty
  std::vector<Tensor> outputs;
  // A TBMS worker's word on its queue (parameters.tbms_expected_ms, or
  // tbms_expected_us over gRPC): what a new request to this model would take
  // there now, wait included, so that brokers sharing the worker see each
  // other's load (docs/house.md, "Remote models").
  std::optional<Duration> expected_now;
};
// "[2,3]": a shape as error messages show it.
std::string ShapeText(std::span<const int64_t> shape);

// Each check names `at` in its INVALID_ARGUMENT, e.g. "inputs[0].shape has
// rank 9, at most 8 is allowed". One rule for every wire's decoder:
Status CheckRank(size_t rank, std::string_view at, const TensorLimits& limits);
// A shape's rank, dims (non-negative) and size within `limits`: its element count.
StatusOr<size_t> CheckShape(std::span<const int64_t> shape, DataType datatype, std::string_view at,
                            const TensorLimits& limits);
// Raw bytes (`t.data` as the v2 binary forms carry it) that hold exactly
// `count` elements of `t.datatype`; BYTES: `count` length-prefixed elements.
Status CheckRawData(const Tensor& t, size_t count, std::string_view at);

}  // namespace tbms
