#include "tbms/kserve/v2_json.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <type_traits>

#include "tbms/broker/limits.h"
#include "tbms/common/json_writer.h"
#include "tbms/common/tensor_json.h"
#include "tbms/common/json_fields.h"

namespace tbms {

namespace {

using simdjson::SUCCESS;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;



// simdjson's array::size() saturates at 0xFFFFFF; this counts past it.
size_t ArraySize(array a) {
  size_t n = a.size();
  if (n < 0xFFFFFF) return n;
  n = 0;
  for ([[maybe_unused]] element e : a) ++n;
  return n;
}

// ---- Numbers out: exact, shortest round-trip text. -------------------------

// ---- Numbers in: each element checked against its datatype. ---------------

enum class Fit { kOk, kWrongType, kNotInteger, kInexact, kOutOfRange };

// The integer in `e` as sign and magnitude, covering JSON's [-2^63, 2^64-1].
// An integral double (2.0, 1e3) counts when every integer near it is exact
// (|v| <= 2^53); above that, the text may not be the integer it was meant to be.
Fit ReadInteger(element e, bool* negative, uint64_t* magnitude) {
  switch (e.type()) {
    case element_type::INT64: {
      const int64_t v = e.get_int64().value_unsafe();
      *negative = v < 0;
      *magnitude = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
      return Fit::kOk;
    }
    case element_type::UINT64:
      *negative = false;
      *magnitude = e.get_uint64().value_unsafe();
      return Fit::kOk;
    case element_type::DOUBLE: {
      const double v = e.get_double().value_unsafe();
      if (v != std::trunc(v)) return Fit::kNotInteger;
      if (std::fabs(v) > 0x1p53) return Fit::kInexact;
      *negative = v < 0;
      *magnitude = static_cast<uint64_t>(std::fabs(v));
      return Fit::kOk;
    }
    default:
      return Fit::kWrongType;
  }
}

template <typename T>
Fit PutInt(element e, char* dst) {
  bool negative;
  uint64_t magnitude;
  if (Fit fit = ReadInteger(e, &negative, &magnitude); fit != Fit::kOk) return fit;
  T v;
  if (negative) {
    if constexpr (std::is_unsigned_v<T>) {
      return Fit::kOutOfRange;
    } else {
      if (magnitude > static_cast<uint64_t>(std::numeric_limits<T>::max()) + 1) {
        return Fit::kOutOfRange;
      }
      v = static_cast<T>(static_cast<int64_t>(0 - magnitude));  // two's complement
    }
  } else {
    if (magnitude > static_cast<uint64_t>(std::numeric_limits<T>::max())) return Fit::kOutOfRange;
    v = static_cast<T>(magnitude);
  }
  std::memcpy(dst, &v, sizeof v);
  return Fit::kOk;
}

Fit ReadDouble(element e, double* out) {
  switch (e.type()) {
    case element_type::DOUBLE: *out = e.get_double().value_unsafe(); break;
    case element_type::INT64: *out = static_cast<double>(e.get_int64().value_unsafe()); break;
    case element_type::UINT64: *out = static_cast<double>(e.get_uint64().value_unsafe()); break;
    default: return Fit::kWrongType;
  }
  // simdjson refuses numbers beyond the double range; this is a safety net.
  return std::isfinite(*out) ? Fit::kOk : Fit::kOutOfRange;
}

// The smallest magnitudes that round to infinity: half way between the
// largest finite value and the next power of two (the tie goes to even,
// which is infinity).
constexpr double kFp16Overflow = 65520.0;
constexpr double kFp32Overflow = 0x1.ffffffp+127;

Fit PutFloat(DataType type, element e, char* dst) {
  double v;
  if (Fit fit = ReadDouble(e, &v); fit != Fit::kOk) return fit;
  if (type == DataType::kFp64) {
    std::memcpy(dst, &v, sizeof v);
  } else if (type == DataType::kFp32) {
    if (std::fabs(v) >= kFp32Overflow) return Fit::kOutOfRange;
    const auto f = static_cast<float>(v);
    std::memcpy(dst, &f, sizeof f);
  } else {
    if (std::fabs(v) >= kFp16Overflow) return Fit::kOutOfRange;
    const uint16_t h = DoubleToHalf(v);
    std::memcpy(dst, &h, sizeof h);
  }
  return Fit::kOk;
}

std::string_view Expected(DataType type) {
  switch (type) {
    case DataType::kBool: return "true or false";
    case DataType::kFp16: case DataType::kFp32: case DataType::kFp64: return "a number";
    case DataType::kBytes: return "a string";
    default: return "an integer";
  }
}

std::string_view JsonTypeName(element e) {
  switch (e.type()) {
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
    case element_type::STRING: return "a string";
    case element_type::BOOL: return "a boolean";
    case element_type::NULL_VALUE: return "null";
    default: return "a number";
  }
}

std::string NumberText(element e) {
  std::string s;
  switch (e.type()) {
    case element_type::INT64: s = std::to_string(e.get_int64().value_unsafe()); break;
    case element_type::UINT64: s = std::to_string(e.get_uint64().value_unsafe()); break;
    default: AppendShortestNumber(s, e.get_double().value_unsafe()); break;
  }
  return s;
}

// Reads a tensor's JSON data, flat or nested, into `t->data` in row-major
// order, checking the count and each element against `t->datatype`. Errors
// name the element by its JSON path, e.g. "inputs[0].data[1][2]".
// One use per tensor; thread-compatible.
class DataReader {
 public:
  // `path` names the data ("inputs[0].data"); `count` is product(t->shape).
  DataReader(std::string_view path, const TensorLimits& limits, size_t count, Tensor* t)
      : path_(path), max_bytes_(limits.max_bytes), count_(count), t_(*t),
        size_(DataTypeSize(t->datatype)) {}

  // `data` is flat (product(shape) elements) or nested as the shape says.
  Status ReadArray(array data) {
    const auto& shape = t_.shape;
    if (shape.size() >= 2 && data.begin() != data.end() && (*data.begin()).is_array()) {
      index_.assign(shape.size(), 0);
      Reserve();
      return ReadNested(data, 0);
    }
    if (const size_t n = ArraySize(data); n != count_) {
      return InvalidArgument(path_ + ": expected " + std::to_string(count_) +
                             " elements for shape " + ShapeText(shape) + ", got " +
                             std::to_string(n));
    }
    index_.assign(1, 0);
    Reserve();
    for (element e : data) {
      TBMS_RETURN_IF_ERROR(Put(e));
      ++index_[0];
    }
    return OkStatus();
  }

  // A single element (count 1), named by the path alone.
  Status ReadOne(element e) {
    index_.clear();
    Reserve();
    return Put(e);
  }

 private:
  void Reserve() {
    if (size_ > 0) {
      t_.data.resize(count_ * size_);  // elements are stored in place
    } else {
      t_.data.reserve(count_ * 4 + count_ * 8);  // lengths, and a guess for the bytes
    }
  }

  Status ReadNested(array a, size_t dim) {
    const auto& shape = t_.shape;
    const auto want = static_cast<size_t>(shape[dim]);
    if (const size_t n = ArraySize(a); n != want) {
      return InvalidArgument(Path(dim) + ": expected " + std::to_string(want) +
                             " elements for shape " + ShapeText(shape) + ", got " +
                             std::to_string(n));
    }
    const bool last = dim + 1 == shape.size();
    index_[dim] = 0;
    for (element e : a) {
      if (last) {
        TBMS_RETURN_IF_ERROR(Put(e));
      } else {
        array sub;
        if (e.get_array().get(sub) != SUCCESS) {
          return InvalidArgument(Path(dim + 1) + " must be an array (nested data follows shape " +
                                 ShapeText(shape) + ")");
        }
        TBMS_RETURN_IF_ERROR(ReadNested(sub, dim + 1));
      }
      ++index_[dim];
    }
    return OkStatus();
  }

  Status Put(element e) {
    char* dst = t_.data.data() + k_ * size_;
    Fit fit = Fit::kOk;
    switch (t_.datatype) {
      case DataType::kBool: {
        bool b;
        if (e.get_bool().get(b) != SUCCESS) fit = Fit::kWrongType;
        else *dst = b ? 1 : 0;
        break;
      }
      case DataType::kUint8: fit = PutInt<uint8_t>(e, dst); break;
      case DataType::kUint16: fit = PutInt<uint16_t>(e, dst); break;
      case DataType::kUint32: fit = PutInt<uint32_t>(e, dst); break;
      case DataType::kUint64: fit = PutInt<uint64_t>(e, dst); break;
      case DataType::kInt8: fit = PutInt<int8_t>(e, dst); break;
      case DataType::kInt16: fit = PutInt<int16_t>(e, dst); break;
      case DataType::kInt32: fit = PutInt<int32_t>(e, dst); break;
      case DataType::kInt64: fit = PutInt<int64_t>(e, dst); break;
      case DataType::kFp16:
      case DataType::kFp32:
      case DataType::kFp64: fit = PutFloat(t_.datatype, e, dst); break;
      case DataType::kBytes: {
        std::string_view s;
        if (e.get_string().get(s) != SUCCESS) {
          fit = Fit::kWrongType;
          break;
        }
        t_.AppendString(s);
        if (t_.data.size() > max_bytes_) {
          return InvalidArgument(path_ + " is larger than " + std::to_string(max_bytes_) +
                                 " bytes, the limit per tensor");
        }
        break;
      }
    }
    if (fit != Fit::kOk) return ElementError(e, fit);
    ++k_;
    return OkStatus();
  }

  Status ElementError(element e, Fit fit) const {
    const std::string where = Path(index_.size());
    const std::string_view type = DataTypeName(t_.datatype);
    switch (fit) {
      case Fit::kNotInteger:
        return InvalidArgument(where + " must be an integer (" + std::string(type) + "), got " +
                               NumberText(e));
      case Fit::kInexact:
        return InvalidArgument(where + ": " + NumberText(e) + " is not an exact integer (" +
                               std::string(type) + "); write it without a fraction or exponent");
      case Fit::kOutOfRange:
        return InvalidArgument(where + ": " + NumberText(e) + " is out of range for " +
                               std::string(type));
      default:
        return InvalidArgument(where + " must be " + std::string(Expected(t_.datatype)) + " (" +
                               std::string(type) + "), got " + std::string(JsonTypeName(e)));
    }
  }

  // The path of the current element's first `depth` indices.
  std::string Path(size_t depth) const {
    std::string s = path_;
    for (size_t i = 0; i < depth; ++i) s += "[" + std::to_string(index_[i]) + "]";
    return s;
  }

  const std::string path_;
  const size_t max_bytes_;
  const size_t count_;
  Tensor& t_;
  const size_t size_;            // bytes per element; 0 for BYTES
  size_t k_ = 0;                 // elements stored
  std::vector<size_t> index_;    // the current element's JSON indices, one per level
};

Status ReadShape(element e, const std::string& at, const TensorLimits& limits,
                 std::vector<int64_t>* shape) {
  const auto bad = [&] {
    return InvalidArgument(at + ".shape must be an array of non-negative integers");
  };
  array arr;
  if (e.get_array().get(arr) != SUCCESS) return bad();
  const size_t rank = ArraySize(arr);
  TBMS_RETURN_IF_ERROR(CheckRank(rank, at, limits));
  shape->clear();
  shape->reserve(rank);
  for (element d : arr) {
    int64_t v;
    if (d.type() != element_type::INT64 || (v = d.get_int64().value_unsafe()) < 0) return bad();
    shape->push_back(v);
  }
  return OkStatus();
}

Status ReadParameters(element e, InferRequest* request) {
  object obj;
  if (e.get_object().get(obj) != SUCCESS) return InvalidArgument("parameters must be an object");
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, "parameters"));
  for (auto [key, value] : obj) {
    if (key == "tloc") {
      Duration tloc;
      TBMS_RETURN_IF_ERROR(ReadMs(value, "parameters.tloc", /*positive=*/true, limits::kMaxTlocMs, &tloc));
      request->tloc = tloc;
    } else if (key == "priority") {
      TBMS_RETURN_IF_ERROR(ReadInt(value, "parameters.priority", -limits::kMaxPriority, limits::kMaxPriority, &request->priority));
    } else if (key == "binary_data_output") {
      if (value.get_bool().get(request->binary_outputs.all) != SUCCESS) {
        return InvalidArgument("parameters.binary_data_output must be true or false");
      }
    }  // other parameters are for the model, not for TBMS
  }
  return OkStatus();
}

Status ReadInputs(element e, const TensorLimits& limits, BinarySection* binary, std::vector<Tensor>* inputs) {
  array arr;
  if (e.get_array().get(arr) != SUCCESS) {
    return InvalidArgument("inputs must be an array of tensors");
  }
  const size_t n = ArraySize(arr);
  if (n == 0) return InvalidArgument("inputs must not be empty");
  if (n > limits.max_tensors) {
    return InvalidArgument("inputs has " + std::to_string(n) + " tensors, at most " +
                           std::to_string(limits.max_tensors) + " are allowed");
  }
  inputs->resize(n);
  size_t i = 0;
  for (element t : arr) {
    const std::string at = "inputs[" + std::to_string(i) + "]";
    TBMS_RETURN_IF_ERROR(ReadTensor(t, at, limits, &(*inputs)[i], binary));
    for (size_t j = 0; j < i; ++j) {
      if ((*inputs)[j].name == (*inputs)[i].name) {
        return InvalidArgument(at + ".name " + Quote((*inputs)[i].name) +
                               " is already used by inputs[" + std::to_string(j) + "]");
      }
    }
    ++i;
  }
  return OkStatus();
}

Status ReadOutputs(element e, const TensorLimits& limits, std::vector<std::string>* outputs,
                   BinaryOutputs* binary) {
  array arr;
  if (e.get_array().get(arr) != SUCCESS) {
    return InvalidArgument("outputs must be an array of {\"name\": ...} objects");
  }
  const size_t n = ArraySize(arr);
  if (n > limits.max_tensors) {
    return InvalidArgument("outputs has " + std::to_string(n) + " entries, at most " +
                           std::to_string(limits.max_tensors) + " are allowed");
  }
  outputs->reserve(n);
  size_t i = 0;
  for (element o : arr) {
    const std::string at = "outputs[" + std::to_string(i) + "]";
    object obj;
    if (o.get_object().get(obj) != SUCCESS) {
      return InvalidArgument(at + " must be an object like {\"name\": \"scores\"}");
    }
    std::string_view name;
    bool has_name = false, wants_binary = false;
    TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, at));
    for (auto [key, value] : obj) {
      if (key == "name") {
        if (value.get_string().get(name) != SUCCESS || name.empty()) {
          return InvalidArgument(at + ".name must be a non-empty string");
        }
        has_name = true;
      } else if (key == "parameters") {
        object parameters;
        if (value.get_object().get(parameters) != SUCCESS) return InvalidArgument(at + ".parameters must be an object");
        if (element b; parameters["binary_data"].get(b) == SUCCESS && b.get_bool().get(wants_binary) != SUCCESS) {
          return InvalidArgument(at + ".parameters.binary_data must be true or false");
        }
      } else {
        return InvalidArgument(at + ": unknown field " + Quote(key) +
                               " (expected name, parameters)");
      }
    }
    if (!has_name) return InvalidArgument(at + ".name is required");
    for (size_t j = 0; j < outputs->size(); ++j) {
      if ((*outputs)[j] == name) {
        return InvalidArgument(at + ".name " + Quote(name) + " is already used by outputs[" +
                               std::to_string(j) + "]");
      }
    }
    outputs->emplace_back(name);
    if (wants_binary) binary->names.emplace_back(name);
    ++i;
  }
  return OkStatus();
}

std::string_view TrimJson(std::string_view s) {
  const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

// A model's answer is ours, not a client's: only the sizes that keep the
// reading safe are limited.
TensorLimits AnswerLimits() {
  TensorLimits limits;
  limits.max_bytes = std::numeric_limits<size_t>::max();
  return limits;
}

// An array answer as a tensor of its own shape, taken from the first element
// at each level; ragged arrays are errors.
Status ReadAnswerArray(array root, size_t json_size, Tensor* t) {
  array level = root;
  while (true) {
    const size_t n = ArraySize(level);
    t->shape.push_back(static_cast<int64_t>(n));
    if (n == 0 || !(*level.begin()).is_array()) break;
    level = (*level.begin()).get_array().value_unsafe();
  }
  // A rectangular array of n elements has at least n characters, so a larger
  // product means the first elements lied about the rest.
  TensorLimits bound = AnswerLimits();
  bound.max_elements = json_size;
  bound.max_rank = std::numeric_limits<size_t>::max();
  const StatusOr<size_t> count = CheckShape(t->shape, t->datatype, "answer", bound);
  if (!count.ok()) {
    return InvalidArgument("answer is a ragged array (its first elements say shape " +
                           ShapeText(t->shape) + ")");
  }
  return DataReader("answer", AnswerLimits(), *count, t).ReadArray(root);
}

}  // namespace

// A tensor's "parameters": its binary_data_size, if any (others are the model's).
Status ReadTensorParameters(element e, const std::string& at, std::optional<uint64_t>* binary_size) {
  object obj;
  if (e.get_object().get(obj) != SUCCESS) return InvalidArgument(at + ".parameters must be an object");
  for (auto [key, value] : obj) {
    if (key != "binary_data_size") continue;
    uint64_t n;
    if (value.get_uint64().get(n) != SUCCESS) {
      return InvalidArgument(at + ".parameters.binary_data_size must be a non-negative integer");
    }
    *binary_size = n;
  }
  return OkStatus();
}

Status ReadTensor(element e, std::string_view at_view, const TensorLimits& limits, Tensor* out,
                  BinarySection* binary) {
  const std::string at(at_view);
  std::optional<uint64_t> binary_size;
  object obj;
  if (e.get_object().get(obj) != SUCCESS) {
    return InvalidArgument(at + " must be a tensor object like {\"name\": \"x\", \"shape\": [2], "
                                "\"datatype\": \"FP32\", \"data\": [0.5, 1.5]}");
  }
  bool has_name = false, has_shape = false, has_datatype = false, has_data = false;
  array data;
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, at));
  for (auto [key, value] : obj) {
    if (key == "name") {
      std::string_view name;
      if (value.get_string().get(name) != SUCCESS || name.empty()) {
        return InvalidArgument(at + ".name must be a non-empty string");
      }
      out->name.assign(name);
      has_name = true;
    } else if (key == "shape") {
      TBMS_RETURN_IF_ERROR(ReadShape(value, at, limits, &out->shape));
      has_shape = true;
    } else if (key == "datatype") {
      std::string_view name;
      if (value.get_string().get(name) != SUCCESS) {
        return InvalidArgument(at + ".datatype must be a string like \"FP32\"");
      }
      StatusOr<DataType> type = ParseDataType(name);
      if (!type.ok()) return InvalidArgument(at + ".datatype: " + type.status().message());
      out->datatype = *type;
      has_datatype = true;
    } else if (key == "data") {
      if (value.get_array().get(data) != SUCCESS) {
        return InvalidArgument(at + ".data must be an array, flat or nested as the shape");
      }
      has_data = true;
    } else if (key == "parameters") {
      TBMS_RETURN_IF_ERROR(ReadTensorParameters(value, at, &binary_size));
    } else {
      return InvalidArgument(at + ": unknown field " + Quote(key) +
                             " (expected name, shape, datatype, data, parameters)");
    }
  }
  if (!has_name) return InvalidArgument(at + ".name is required");
  if (!has_shape) return InvalidArgument(at + ".shape is required");
  if (!has_datatype) return InvalidArgument(at + ".datatype is required");
  if (has_data && binary_size) return InvalidArgument(at + ": give data or parameters.binary_data_size, not both");
  if (!has_data && !binary_size) return InvalidArgument(at + ".data is required");

  StatusOr<size_t> count = CheckShape(out->shape, out->datatype, at, limits);
  if (!count.ok()) return count.status();
  out->data.clear();
  if (binary_size) {
    if (binary == nullptr) {
      return InvalidArgument(at + ".parameters.binary_data_size needs the binary tensor data extension "
                                  "(an Inference-Header-Content-Length header)");
    }
    if (*binary_size > binary->bytes.size() - binary->used) {
      return InvalidArgument(at + ".parameters.binary_data_size is " + std::to_string(*binary_size) + " bytes, but " +
                             std::to_string(binary->bytes.size() - binary->used) + " are left after the JSON");
    }
    if (*binary_size > limits.max_bytes) {
      return InvalidArgument(at + ": binary data of " + std::to_string(*binary_size) + " bytes is more than " +
                             std::to_string(limits.max_bytes) + ", the limit per tensor");
    }
    out->data.assign(binary->bytes.substr(binary->used, *binary_size));
    binary->used += *binary_size;
    return CheckRawData(*out, *count, at);
  }
  return DataReader(at + ".data", limits, *count, out).ReadArray(data);
}

StatusOr<InferRequest> ParseInferRequest(std::string_view body, const TensorLimits& limits,
                                         std::optional<size_t> json_length) {
  BinarySection section;
  if (json_length) {
    if (*json_length > body.size()) {
      return InvalidArgument("Inference-Header-Content-Length is " + std::to_string(*json_length) +
                             ", more than the body's " + std::to_string(body.size()) + " bytes");
    }
    section.bytes = body.substr(*json_length);
    body = body.substr(0, *json_length);
  }
  BinarySection* binary = json_length ? &section : nullptr;
  element root;
  TBMS_RETURN_IF_ERROR(ParseBody(body, &root));
  object obj;
  if (root.get_object().get(obj) != SUCCESS) {
    return InvalidArgument("the body must be a JSON object");
  }
  InferRequest request;
  bool has_inputs = false;
  TBMS_RETURN_IF_ERROR(NoDuplicateKeys(obj, ""));
  for (auto [key, value] : obj) {
    if (key == "id") {
      std::string_view id;
      if (value.get_string().get(id) != SUCCESS) return InvalidArgument("id must be a string");
      request.id.assign(id);
    } else if (key == "parameters") {
      TBMS_RETURN_IF_ERROR(ReadParameters(value, &request));
    } else if (key == "inputs") {
      TBMS_RETURN_IF_ERROR(ReadInputs(value, limits, binary, &request.inputs));
      has_inputs = true;
    } else if (key == "outputs") {
      TBMS_RETURN_IF_ERROR(ReadOutputs(value, limits, &request.outputs, &request.binary_outputs));
    } else {
      return InvalidArgument("unknown field " + Quote(key) +
                             " (expected id, parameters, inputs, outputs)");
    }
  }
  if (!has_inputs) {
    return InvalidArgument("inputs is required, e.g. [{\"name\": \"x\", \"shape\": [1], "
                           "\"datatype\": \"FP32\", \"data\": [0.5]}]");
  }
  if (section.used != section.bytes.size()) {
    return InvalidArgument(std::to_string(section.bytes.size() - section.used) +
                           " bytes of binary data follow the JSON that no input's parameters.binary_data_size claims");
  }
  return request;
}

StatusOr<InferResponse> ParseInferResponse(std::string_view body, const TensorLimits& limits) {
  element root;
  TBMS_RETURN_IF_ERROR(ParseBody(body, &root));
  object obj;
  if (root.get_object().get(obj) != SUCCESS) return InvalidArgument("the response must be a JSON object");
  InferResponse r;
  bool has_outputs = false;
  for (auto [key, value] : obj) {
    std::string_view text;
    if (key == "model_name" || key == "model_version" || key == "id") {
      if (value.get_string().get(text) != SUCCESS) return InvalidArgument(std::string(key) + " must be a string");
      (key == "id" ? r.id : key == "model_name" ? r.model_name : r.model_version).assign(text);
    } else if (key == "outputs") {
      array arr;
      if (value.get_array().get(arr) != SUCCESS) return InvalidArgument("outputs must be an array of tensors");
      if (ArraySize(arr) > limits.max_tensors) return InvalidArgument("outputs has too many tensors");
      size_t i = 0;
      for (element t : arr) {
        TBMS_RETURN_IF_ERROR(ReadTensor(t, "outputs[" + std::to_string(i++) + "]", limits, &r.outputs.emplace_back()));
      }
      has_outputs = true;
    } else if (key == "parameters") {
      double ms;
      if (element e; value["tbms_expected_ms"].get(e) == SUCCESS && e.get_double().get(ms) == SUCCESS &&
          ms >= 0 && ms <= limits::kMaxTlocMs) {
        r.expected_now = Millis(ms);
      }
    }  // other fields: the server's, not needed here
  }
  if (!has_outputs) return InvalidArgument("outputs is required");
  return r;
}

void AppendTensorJson(const Tensor& t, std::string& out) {
  out += "{\"name\":";
  AppendJsonString(out, t.name);
  out += ",\"datatype\":\"";
  out += DataTypeName(t.datatype);
  out += "\",\"shape\":[";
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(t.shape[i]);
  }
  out += "],\"data\":";
  AppendTensorData(t, out);
  out += '}';
}

StatusOr<Tensor> AnswerTensor(std::string_view answer_json, std::string name, DataType datatype) {
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(answer_json.data(), answer_json.size()).get(root); err != SUCCESS) {
    return InvalidArgument(std::string("answer: malformed JSON: ") + simdjson::error_message(err));
  }
  Tensor t;
  t.name = std::move(name);
  t.datatype = datatype;
  const bool bytes = datatype == DataType::kBytes;
  if (root.is_array()) {
    Status s = ReadAnswerArray(root.get_array().value_unsafe(), answer_json.size(), &t);
    if (s.ok()) return t;
    if (!bytes) return s;
  } else if (!bytes || root.is_string()) {
    t.shape = {1};
    Status s = DataReader("answer", AnswerLimits(), 1, &t).ReadOne(root);
    if (!s.ok()) return s;
    return t;
  }
  // BYTES, and not a string or an array of strings: the JSON text itself.
  t.shape = {1};
  t.data.clear();
  t.AppendString(TrimJson(answer_json));
  return t;
}

size_t WriteInferResponse(const InferResponse& r, std::string& out, const BinaryOutputs& binary) {
  const size_t start = out.size();
  out += "{\"model_name\":";
  AppendJsonString(out, r.model_name);
  out += ",\"model_version\":";
  AppendJsonString(out, r.model_version);
  if (!r.id.empty()) {
    out += ",\"id\":";
    AppendJsonString(out, r.id);
  }
  if (r.expected_now) {
    out += ",\"parameters\":{\"tbms_expected_ms\":";
    AppendShortestNumber(out, ToMillis(*r.expected_now));
    out += '}';
  }
  out += ",\"outputs\":[";
  for (size_t i = 0; i < r.outputs.size(); ++i) {
    const Tensor& t = r.outputs[i];
    if (i > 0) out += ',';
    if (!binary.Wants(t.name)) {
      AppendTensorJson(t, out);
      continue;
    }
    out += "{\"name\":";
    AppendJsonString(out, t.name);
    out += ",\"datatype\":\"";
    out += DataTypeName(t.datatype);
    out += "\",\"shape\":" + ShapeText(t.shape) + ",\"parameters\":{\"binary_data_size\":" +
           std::to_string(t.data.size()) + "}}";
  }
  out += "]}";
  const size_t json_length = out.size() - start;
  for (const Tensor& t : r.outputs) {
    if (binary.Wants(t.name)) out += t.data;
  }
  return json_length;
}

void WriteInferRequest(const InferRequest& r, std::string& out) {
  out += '{';
  if (!r.id.empty()) {
    out += "\"id\":";
    AppendJsonString(out, r.id);
    out += ',';
  }
  if (r.tloc || r.priority != 0) {
    out += "\"parameters\":{";
    if (r.tloc) out += "\"tloc\":" + std::to_string(static_cast<int64_t>(ToMillis(*r.tloc)));
    if (r.priority != 0) out += std::string(r.tloc ? "," : "") + "\"priority\":" + std::to_string(r.priority);
    out += "},";
  }
  out += "\"inputs\":[";
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    if (i > 0) out += ',';
    AppendTensorJson(r.inputs[i], out);
  }
  out += ']';
  if (!r.outputs.empty()) {
    out += ",\"outputs\":[";
    for (size_t i = 0; i < r.outputs.size(); ++i) {
      out += i > 0 ? ",{\"name\":" : "{\"name\":";
      AppendJsonString(out, r.outputs[i]);
      out += '}';
    }
    out += ']';
  }
  out += '}';
}

}  // namespace tbms
