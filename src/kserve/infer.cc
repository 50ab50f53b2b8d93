#include "tbms/kserve/infer.h"

#include <cstring>

namespace tbms {

std::string ShapeText(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

Status CheckRank(size_t rank, std::string_view at, const TensorLimits& limits) {
  if (rank <= limits.max_rank) return OkStatus();
  return InvalidArgument(std::string(at) + ".shape has rank " + std::to_string(rank) + ", at most " +
                         std::to_string(limits.max_rank) + " is allowed");
}

StatusOr<size_t> CheckShape(std::span<const int64_t> shape, DataType datatype, std::string_view at_view,
                            const TensorLimits& limits) {
  const std::string at(at_view);
  TBMS_RETURN_IF_ERROR(CheckRank(shape.size(), at, limits));
  size_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument(at + ".shape must be an array of non-negative integers");
    if (d == 0) count = 0;
  }
  for (int64_t d : shape) {  // the product, or past the limit
    if (count == 0) break;
    if (static_cast<uint64_t>(d) > limits.max_elements / count) {
      return InvalidArgument(at + ".shape " + ShapeText(shape) + " has more than " +
                             std::to_string(limits.max_elements) + " elements, the limit per tensor");
    }
    count *= static_cast<size_t>(d);
  }
  const size_t bytes = count * DataTypeSize(datatype);
  if (bytes > limits.max_bytes) {
    return InvalidArgument(at + ".shape " + ShapeText(shape) + " of " + std::string(DataTypeName(datatype)) +
                           " is " + std::to_string(bytes) + " bytes, more than " +
                           std::to_string(limits.max_bytes) + ", the limit per tensor");
  }
  return count;
}

Status CheckRawData(const Tensor& t, size_t count, std::string_view at_view) {
  const std::string at(at_view);
  if (t.datatype != DataType::kBytes) {
    const size_t want = count * DataTypeSize(t.datatype);
    if (t.data.size() == want) return OkStatus();
    return InvalidArgument(at + ": expected " + std::to_string(want) + " bytes for shape " + ShapeText(t.shape) +
                           " of " + std::string(DataTypeName(t.datatype)) + ", got " + std::to_string(t.data.size()));
  }
  size_t pos = 0, n = 0;
  while (pos < t.data.size()) {  // 4-byte little-endian length, then the bytes
    if (t.data.size() - pos < 4) break;
    uint32_t len;
    std::memcpy(&len, t.data.data() + pos, 4);  // the wire and this machine are little-endian (tensor.h)
    pos += 4;
    if (len > t.data.size() - pos) break;
    pos += len;
    ++n;
  }
  if (pos != t.data.size()) {
    return InvalidArgument(at + ": BYTES element " + std::to_string(n) +
                           " is truncated (each is a 4-byte little-endian length, then the bytes)");
  }
  if (n != count) {
    return InvalidArgument(at + ": expected " + std::to_string(count) + " BYTES elements for shape " +
                           ShapeText(t.shape) + ", got " + std::to_string(n));
  }
  return OkStatus();
}

}  // namespace tbms
