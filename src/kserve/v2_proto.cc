#include "tbms/kserve/v2_proto.h"

#include <array>
#include <cstring>
#include <type_traits>
#include <utility>

#include "tbms/broker/limits.h"
#include "tbms/common/json_fields.h"

namespace tbms {
namespace {

using inference::InferTensorContents;

// The typed field that holds a datatype's elements ("" for FP16: none).
std::string_view ContentsField(DataType type) {
  switch (type) {
    case DataType::kBool: return "bool_contents";
    case DataType::kInt8: case DataType::kInt16: case DataType::kInt32: return "int_contents";
    case DataType::kInt64: return "int64_contents";
    case DataType::kUint8: case DataType::kUint16: case DataType::kUint32: return "uint_contents";
    case DataType::kUint64: return "uint64_contents";
    case DataType::kFp32: return "fp32_contents";
    case DataType::kFp64: return "fp64_contents";
    case DataType::kBytes: return "bytes_contents";
    case DataType::kFp16: return "";
  }
  return "";
}

struct FieldSize {
  std::string_view name;
  int size;
};
std::array<FieldSize, 8> FieldSizes(const InferTensorContents& c) {
  return {{{"bool_contents", c.bool_contents_size()},
           {"int_contents", c.int_contents_size()},
           {"int64_contents", c.int64_contents_size()},
           {"uint_contents", c.uint_contents_size()},
           {"uint64_contents", c.uint64_contents_size()},
           {"fp32_contents", c.fp32_contents_size()},
           {"fp64_contents", c.fp64_contents_size()},
           {"bytes_contents", c.bytes_contents_size()}}};
}

bool HasContents(const InferTensorContents& c) {
  for (const FieldSize& f : FieldSizes(c)) {
    if (f.size != 0) return true;
  }
  return false;
}

template <typename T>
void Append(T v, std::string* data) {
  data->append(reinterpret_cast<const char*>(&v), sizeof v);  // little-endian (tensor.h)
}

// Each value of `values` as a T, refusing those out of T's range.
template <typename T, typename Values>
Status PutAll(const Values& values, const std::string& at, Tensor* t) {
  t->data.reserve(values.size() * sizeof(T));
  for (int i = 0; i < values.size(); ++i) {
    const auto v = values[i];
    if constexpr (std::is_integral_v<T> && !std::is_same_v<std::remove_cv_t<decltype(v)>, bool>) {
      if (!std::in_range<T>(v)) {
        return InvalidArgument(at + "[" + std::to_string(i) + "]: " + std::to_string(v) + " is out of range for " +
                               std::string(DataTypeName(t->datatype)));
      }
    }
    Append(static_cast<T>(v), &t->data);
  }
  return OkStatus();
}

Status ReadContents(const InferTensorContents& c, size_t count, const std::string& at, Tensor* t) {
  const std::string_view want = ContentsField(t->datatype);
  if (want.empty()) {
    return InvalidArgument(at + ": FP16 has no contents field; send its data raw (raw_input_contents)");
  }
  for (const FieldSize& f : FieldSizes(c)) {
    if (f.name == want && static_cast<size_t>(f.size) != count) {
      return InvalidArgument(at + ".contents." + std::string(want) + ": expected " + std::to_string(count) +
                             " elements for shape " + ShapeText(t->shape) + ", got " + std::to_string(f.size));
    }
    if (f.name != want && f.size != 0) {
      return InvalidArgument(at + ".contents." + std::string(f.name) + " cannot hold " +
                             std::string(DataTypeName(t->datatype)) + " (use " + std::string(want) + ")");
    }
  }
  const std::string field = at + ".contents." + std::string(want);
  switch (t->datatype) {
    case DataType::kBool: return PutAll<uint8_t>(c.bool_contents(), field, t);
    case DataType::kInt8: return PutAll<int8_t>(c.int_contents(), field, t);
    case DataType::kInt16: return PutAll<int16_t>(c.int_contents(), field, t);
    case DataType::kInt32: return PutAll<int32_t>(c.int_contents(), field, t);
    case DataType::kInt64: return PutAll<int64_t>(c.int64_contents(), field, t);
    case DataType::kUint8: return PutAll<uint8_t>(c.uint_contents(), field, t);
    case DataType::kUint16: return PutAll<uint16_t>(c.uint_contents(), field, t);
    case DataType::kUint32: return PutAll<uint32_t>(c.uint_contents(), field, t);
    case DataType::kUint64: return PutAll<uint64_t>(c.uint64_contents(), field, t);
    case DataType::kFp32: return PutAll<float>(c.fp32_contents(), field, t);
    case DataType::kFp64: return PutAll<double>(c.fp64_contents(), field, t);
    case DataType::kBytes:
      for (const std::string& s : c.bytes_contents()) t->AppendString(s);
      return OkStatus();
    case DataType::kFp16: break;
  }
  return OkStatus();
}

// One tensor message (an input or an output: the same fields) into `t`;
// `raw` is its raw entry, or null when the data is in `contents`.
template <typename Message>
Status ReadTensor(const Message& m, const std::string* raw, const std::string& at, const TensorLimits& limits,
                  Tensor* t) {
  if (m.name().empty()) return InvalidArgument(at + ".name must not be empty");
  t->name = m.name();
  StatusOr<DataType> type = ParseDataType(m.datatype());
  if (!type.ok()) return InvalidArgument(at + ".datatype: " + type.status().message());
  t->datatype = *type;
  TBMS_RETURN_IF_ERROR(CheckRank(static_cast<size_t>(m.shape_size()), at, limits));
  t->shape.assign(m.shape().begin(), m.shape().end());
  StatusOr<size_t> count = CheckShape(t->shape, t->datatype, at, limits);
  if (!count.ok()) return count.status();
  if (raw == nullptr) return ReadContents(m.contents(), *count, at, t);
  if (raw->size() > limits.max_bytes) {
    return InvalidArgument(at + ": raw data of " + std::to_string(raw->size()) + " bytes is more than " +
                           std::to_string(limits.max_bytes) + ", the limit per tensor");
  }
  t->data = *raw;
  return CheckRawData(*t, *count, at);
}

// The tensors of a request or response: `raw` is its raw_*_contents.
template <typename Tensors>
Status ReadTensors(const Tensors& tensors, const google::protobuf::RepeatedPtrField<std::string>& raw,
                   std::string_view field, std::string_view raw_field, const TensorLimits& limits,
                   std::vector<Tensor>* out) {
  if (static_cast<size_t>(tensors.size()) > limits.max_tensors) {
    return InvalidArgument(std::string(field) + " has " + std::to_string(tensors.size()) + " tensors, at most " +
                           std::to_string(limits.max_tensors) + " are allowed");
  }
  if (!raw.empty() && raw.size() != tensors.size()) {
    return InvalidArgument(std::string(raw_field) + " has " + std::to_string(raw.size()) + " entries for " +
                           std::to_string(tensors.size()) + " " + std::string(field) + ": give one per tensor, or none");
  }
  out->resize(static_cast<size_t>(tensors.size()));
  for (int i = 0; i < tensors.size(); ++i) {
    const std::string at = std::string(field) + "[" + std::to_string(i) + "]";
    if (!raw.empty() && HasContents(tensors[i].contents())) {
      return InvalidArgument(at + ".contents must be empty when " + std::string(raw_field) + " is used");
    }
    TBMS_RETURN_IF_ERROR(ReadTensor(tensors[i], raw.empty() ? nullptr : &raw[i], at, limits, &(*out)[i]));
    for (int j = 0; j < i; ++j) {
      if ((*out)[j].name == (*out)[i].name) {
        return InvalidArgument(at + ".name " + Quote((*out)[i].name) + " is already used by " + std::string(field) +
                               "[" + std::to_string(j) + "]");
      }
    }
  }
  return OkStatus();
}

template <typename T, typename Field>
void AddAll(const Tensor& t, Field* field) {
  for (T v : t.Values<T>()) field->Add(v);
}

void WriteContents(const Tensor& t, InferTensorContents* c) {
  switch (t.datatype) {
    case DataType::kBool:
      for (uint8_t v : t.Values<uint8_t>()) c->add_bool_contents(v != 0);
      break;
    case DataType::kInt8: AddAll<int8_t>(t, c->mutable_int_contents()); break;
    case DataType::kInt16: AddAll<int16_t>(t, c->mutable_int_contents()); break;
    case DataType::kInt32: AddAll<int32_t>(t, c->mutable_int_contents()); break;
    case DataType::kInt64: AddAll<int64_t>(t, c->mutable_int64_contents()); break;
    case DataType::kUint8: AddAll<uint8_t>(t, c->mutable_uint_contents()); break;
    case DataType::kUint16: AddAll<uint16_t>(t, c->mutable_uint_contents()); break;
    case DataType::kUint32: AddAll<uint32_t>(t, c->mutable_uint_contents()); break;
    case DataType::kUint64: AddAll<uint64_t>(t, c->mutable_uint64_contents()); break;
    case DataType::kFp32: AddAll<float>(t, c->mutable_fp32_contents()); break;
    case DataType::kFp64: AddAll<double>(t, c->mutable_fp64_contents()); break;
    case DataType::kBytes:
      for (std::string_view s : t.Strings()) c->add_bytes_contents(std::string(s));
      break;
    case DataType::kFp16: break;  // raw only
  }
}

// Name, datatype and shape of a tensor message.
template <typename Message>
void WriteHead(const Tensor& t, Message* m) {
  m->set_name(t.name);
  m->set_datatype(std::string(DataTypeName(t.datatype)));
  for (int64_t d : t.shape) m->add_shape(d);
}

}  // namespace

StatusOr<std::optional<int64_t>> IntParameter(const ProtoParameters& parameters, std::string_view at,
                                              const std::string& key, int64_t lo, int64_t hi) {
  const auto it = parameters.find(key);
  if (it == parameters.end()) return std::optional<int64_t>();
  const int64_t v = it->second.int64_param();
  if (it->second.parameter_choice_case() != inference::InferParameter::kInt64Param || v < lo || v > hi) {
    return InvalidArgument(std::string(at) + "." + key + " must be an int64_param in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
  }
  return std::optional<int64_t>(v);
}

StatusOr<std::optional<std::string>> StringParameter(const ProtoParameters& parameters, std::string_view at,
                                                     const std::string& key) {
  const auto it = parameters.find(key);
  if (it == parameters.end()) return std::optional<std::string>();
  if (it->second.parameter_choice_case() != inference::InferParameter::kStringParam) {
    return InvalidArgument(std::string(at) + "." + key + " must be a string_param");
  }
  return std::optional<std::string>(it->second.string_param());
}

StatusOr<InferRequest> FromProto(const inference::ModelInferRequest& m, const TensorLimits& limits) {
  InferRequest r;
  r.id = m.id();
  if (m.inputs().empty()) return InvalidArgument("inputs must not be empty");
  TBMS_RETURN_IF_ERROR(ReadTensors(m.inputs(), m.raw_input_contents(), "inputs", "raw_input_contents", limits,
                                   &r.inputs));
  if (static_cast<size_t>(m.outputs_size()) > limits.max_tensors) {
    return InvalidArgument("outputs has " + std::to_string(m.outputs_size()) + " entries, at most " +
                           std::to_string(limits.max_tensors) + " are allowed");
  }
  for (int i = 0; i < m.outputs_size(); ++i) {
    const std::string& name = m.outputs(i).name();
    const std::string at = "outputs[" + std::to_string(i) + "]";
    if (name.empty()) return InvalidArgument(at + ".name must not be empty");
    for (size_t j = 0; j < r.outputs.size(); ++j) {
      if (r.outputs[j] == name) {
        return InvalidArgument(at + ".name " + Quote(name) + " is already used by outputs[" + std::to_string(j) + "]");
      }
    }
    r.outputs.push_back(name);
  }
  const auto tloc = IntParameter(m.parameters(), "parameters", "tloc", 1, static_cast<int64_t>(limits::kMaxTlocMs));
  if (!tloc.ok()) return tloc.status();
  if (*tloc) r.tloc = Millis(static_cast<double>(**tloc));
  const auto priority = IntParameter(m.parameters(), "parameters", "priority", -limits::kMaxPriority,
                                     limits::kMaxPriority);
  if (!priority.ok()) return priority.status();
  r.priority = static_cast<int>(priority->value_or(0));
  return r;
}

constexpr const char* kExpectedUs = "tbms_expected_us";  // InferResponse::expected_now

void ToProto(const InferResponse& r, bool raw, inference::ModelInferResponse* out) {
  out->set_model_name(r.model_name);
  out->set_model_version(r.model_version);
  out->set_id(r.id);
  if (r.expected_now) {
    (*out->mutable_parameters())[kExpectedUs].set_int64_param(
        std::chrono::duration_cast<std::chrono::microseconds>(*r.expected_now).count());
  }
  for (const Tensor& t : r.outputs) raw = raw || t.datatype == DataType::kFp16;
  for (const Tensor& t : r.outputs) {
    auto* m = out->add_outputs();
    WriteHead(t, m);
    if (raw) {
      out->add_raw_output_contents(t.data);
    } else {
      WriteContents(t, m->mutable_contents());
    }
  }
}

void ToProto(const InferRequest& r, inference::ModelInferRequest* out) {
  out->set_id(r.id);
  for (const Tensor& t : r.inputs) {
    WriteHead(t, out->add_inputs());
    out->add_raw_input_contents(t.data);
  }
  for (const std::string& name : r.outputs) out->add_outputs()->set_name(name);
  if (r.tloc) (*out->mutable_parameters())["tloc"].set_int64_param(static_cast<int64_t>(ToMillis(*r.tloc)));
  if (r.priority != 0) (*out->mutable_parameters())["priority"].set_int64_param(r.priority);
}

StatusOr<InferResponse> FromProto(const inference::ModelInferResponse& m, const TensorLimits& limits) {
  InferResponse r;
  r.model_name = m.model_name();
  r.model_version = m.model_version();
  r.id = m.id();
  const auto expected = IntParameter(m.parameters(), "parameters", kExpectedUs, 0,
                                     static_cast<int64_t>(limits::kMaxTlocMs) * 1000);
  if (expected.ok() && *expected) r.expected_now = std::chrono::microseconds(**expected);
  TBMS_RETURN_IF_ERROR(ReadTensors(m.outputs(), m.raw_output_contents(), "outputs", "raw_output_contents", limits,
                                   &r.outputs));
  return r;
}

}  // namespace tbms
