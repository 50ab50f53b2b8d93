// Tensor: the one tensor type that flows from the HTTP edge (KServe v2 JSON
// tensors) to the backends. Data is one contiguous little-endian buffer in
// row-major order, so a batch can hand it to a BLAS call or a GPU copy as is.
// BYTES elements are stored as a 4-byte little-endian length, then the bytes
// (the convention of the v2 binary extension and of Triton's backends).
// Plain value type.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/common/status.h"

namespace tbms {

// The datatypes of the KServe v2 protocol.
enum class DataType : uint8_t {
  kBool, kUint8, kUint16, kUint32, kUint64, kInt8, kInt16, kInt32, kInt64,
  kFp16, kFp32, kFp64, kBytes,
};

// "BOOL", "UINT8", ... "BYTES".
std::string_view DataTypeName(DataType type);
StatusOr<DataType> ParseDataType(std::string_view name);
// Bytes per element; 0 for BYTES (variable).
size_t DataTypeSize(DataType type);

struct Tensor {
  std::string name;
  DataType datatype = DataType::kBytes;
  std::vector<int64_t> shape;
  std::string data;  // see the header comment

  // The product of the shape (1 for a scalar shape []). Unchecked: the dims
  // must be non-negative and their product fit (ReadTensor checks both).
  int64_t ElementCount() const;
  // A fixed-size element type's data, e.g. Values<float>() for FP32.
  template <typename T>
  std::span<const T> Values() const {
    return {reinterpret_cast<const T*>(data.data()), data.size() / sizeof(T)};
  }
  // The elements of a BYTES tensor, in order (views into `data`); stops at a
  // truncated element.
  std::vector<std::string_view> Strings() const;
  // Appends one BYTES element.
  void AppendString(std::string_view s);
};

// IEEE half <-> float, for FP16 tensors. FloatToHalf rounds to nearest even
// (subnormals included), overflows to infinity from 65520 up, and keeps NaN
// a (quiet) NaN; HalfToFloat is exact.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);

}  // namespace tbms
