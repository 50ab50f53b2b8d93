#include "tbms/common/tensor.h"

#include <array>
#include <bit>
#include <cassert>

namespace tbms {

static_assert(std::endian::native == std::endian::little,
              "Tensor::data is little-endian and is written with plain stores");

namespace {

struct TypeInfo {
  DataType type;
  std::string_view name;
  size_t size;
};

// In enum order, so kTypes[static_cast<size_t>(type)] is `type`'s row.
constexpr std::array<TypeInfo, 13> kTypes = {{
    {DataType::kBool, "BOOL", 1},
    {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2},
    {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8},
    {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},
    {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},
    {DataType::kFp16, "FP16", 2},
    {DataType::kFp32, "FP32", 4},
    {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
}};

constexpr bool InEnumOrder() {
  for (size_t i = 0; i < kTypes.size(); ++i) {
    if (static_cast<size_t>(kTypes[i].type) != i) return false;
  }
  return true;
}
static_assert(InEnumOrder());

const TypeInfo& Info(DataType type) { return kTypes[static_cast<size_t>(type)]; }

}  // namespace

std::string_view DataTypeName(DataType type) { return Info(type).name; }

StatusOr<DataType> ParseDataType(std::string_view name) {
  for (const TypeInfo& t : kTypes) {
    if (t.name == name) return t.type;
  }
  std::string expected;
  for (const TypeInfo& t : kTypes) {
    if (!expected.empty()) expected += ", ";
    expected += t.name;
  }
  return InvalidArgument("unknown datatype '" + std::string(name) + "' (expected " + expected +
                         ")");
}

size_t DataTypeSize(DataType type) { return Info(type).size; }

int64_t Tensor::ElementCount() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<std::string_view> Tensor::Strings() const {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (data.size() - pos >= 4) {
    uint32_t len;
    std::memcpy(&len, data.data() + pos, 4);
    pos += 4;
    if (len > data.size() - pos) break;  // truncated: not a BYTES buffer
    out.emplace_back(data.data() + pos, len);
    pos += len;
  }
  return out;
}

void Tensor::AppendString(std::string_view s) {
  assert(s.size() <= UINT32_MAX);
  const auto len = static_cast<uint32_t>(s.size());
  char prefix[4];
  std::memcpy(prefix, &len, 4);
  data.append(prefix, 4);
  data.append(s);
}

// Half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
// Float: 1 sign bit, 8 exponent bits (bias 127), 23 mantissa bits.
uint16_t FloatToHalf(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000);
  const uint32_t abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) {  // inf, or NaN (kept quiet, with the payload's top bits)
    if (abs == 0x7f800000) return sign | 0x7c00;
    return static_cast<uint16_t>(sign | 0x7e00 | ((abs >> 13) & 0x3ff));
  }
  // 65520 is half way between 65504 (the largest half) and 2^16; the tie
  // goes to the even side, which is infinity.
  if (abs >= 0x477ff000) return sign | 0x7c00;
  if (abs >= 0x38800000) {  // >= 2^-14: a normal half
    // Rebias the exponent (127 - 15 = 112), then drop 13 mantissa bits,
    // rounding to nearest even; a carry rolls into the exponent, as it should.
    uint32_t v = abs - (112u << 23);
    v += 0xfff + ((v >> 13) & 1);
    return static_cast<uint16_t>(sign | (v >> 13));
  }
  // <= 2^-25 (half of the smallest subnormal, a tie that goes to even) is 0.
  if (abs <= 0x33000000) return sign;
  // A subnormal half m * 2^-24: shift the 24-bit significand right by
  // 126 - exponent (14..24 here) and round to nearest even. m may round up
  // to 0x400, which is the encoding of the smallest normal.
  const uint32_t exponent = abs >> 23;
  const uint32_t significand = (abs & 0x7fffff) | 0x800000;
  const uint32_t shift = 126 - exponent;
  uint32_t m = significand >> shift;
  const uint32_t rest = significand & ((1u << shift) - 1);
  const uint32_t halfway = 1u << (shift - 1);
  if (rest > halfway || (rest == halfway && (m & 1))) ++m;
  return static_cast<uint16_t>(sign | m);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ff;
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000 | (mantissa << 13));
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    const float v = static_cast<float>(mantissa) * 0x1p-24f;
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace tbms
