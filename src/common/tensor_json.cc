#include "tbms/common/tensor_json.h"

#include <simdjson.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "tbms/common/json_writer.h"

namespace tbms {
namespace {

// The shortest text that reads back as the same value. NaN and infinities
// have no JSON form: they are written as null. A negative zero is written
// "-0.0", since a reader takes "-0" for the integer 0. From 1e18 up, the
// exponent form is forced: "18446744073709552000" is shorter than
// "1.8446744073709552e+19", but it reads as an integer beyond 64 bits,
// which JSON readers (simdjson among them) may refuse.
template <typename F>
void AppendFloat(std::string& out, F v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  if (v == 0 && std::signbit(v)) {
    out += "-0.0";
    return;
  }
  char buf[32];  // the longest shortest double, "-2.2250738585072014e-308", has 24
  auto r = std::fabs(v) >= F(1e18)
               ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific)
               : std::to_chars(buf, buf + sizeof buf, v);
  if constexpr (std::is_same_v<F, float>) {
    // Readers (simdjson here, Python's json too) take the text to double,
    // then to float: two roundings. For a rare float (7.038531e-26 is one,
    // found by trying all 2^32) the shortest text then lands on the
    // neighbour; 9 significant digits never do.
    double back = 0;
    std::from_chars(buf, r.ptr, back);
    if (static_cast<float>(back) != v) {
      r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific, 8);
    }
  }
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

template <typename I>
void AppendInt(std::string& out, I v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, static_cast<size_t>(r.ptr - buf));
}

// double -> float -> half would round twice and can miss by one at a tie;
// rounding the first step to odd (an inexact float keeps its last bit set)
// makes the second step exact, since float has 13 more significand bits.
}  // namespace

uint16_t DoubleToHalf(double v) {
  float f = static_cast<float>(v);
  if (static_cast<double>(f) != v) {
    auto bits = std::bit_cast<uint32_t>(f);
    if ((bits & 1) == 0) {  // even: take the other neighbour of v, which is odd
      bits = std::fabs(static_cast<double>(f)) < std::fabs(v) ? bits + 1 : bits - 1;
      f = std::bit_cast<float>(bits);
    }
  }
  return FloatToHalf(f);
}

namespace {

// The shorter of the float's shortest text and the fewest digits that read
// back as the same half: 0.1 rather than 0.099975586, 65504 rather than 6.55e+04.
void AppendHalf(std::string& out, uint16_t h) {
  const float f = HalfToFloat(h);
  if (!std::isfinite(f) || f == 0) {
    AppendFloat(out, f);
    return;
  }
  char exact[32];
  const char* exact_end = std::to_chars(exact, exact + sizeof exact, f).ptr;
  char digits[32];
  for (int precision = 1; precision <= 5; ++precision) {  // 5 digits always suffice
    const char* end = std::to_chars(digits, digits + sizeof digits, static_cast<double>(f),
                                    std::chars_format::general, precision).ptr;
    double back = 0;
    std::from_chars(digits, end, back);
    if (DoubleToHalf(back) != h) continue;
    if (end - digits < exact_end - exact) {
      out.append(digits, static_cast<size_t>(end - digits));
      return;
    }
    break;
  }
  out.append(exact, static_cast<size_t>(exact_end - exact));
}

// A JSON string must be UTF-8; a BYTES element need not be. Invalid bytes
// become U+FFFD, one per byte.
std::string ValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
    if (b < 0x80) len = 1;
    else if (b >= 0xc2 && b <= 0xdf) len = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      len = 3;
      if (b == 0xe0) lo = 0xa0;  // no overlong forms
      if (b == 0xed) hi = 0x9f;  // no surrogates
    } else if (b >= 0xf0 && b <= 0xf4) {
      len = 4;
      if (b == 0xf0) lo = 0x90;
      if (b == 0xf4) hi = 0x8f;  // <= U+10FFFF
    }
    bool ok = len > 0 && i + len <= s.size();
    for (size_t j = 1; ok && j < len; ++j) {
      const auto c = static_cast<unsigned char>(s[i + j]);
      ok = j == 1 ? (c >= lo && c <= hi) : (c >= 0x80 && c <= 0xbf);
    }
    if (ok) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out += "\xef\xbf\xbd";
      ++i;
    }
  }
  return out;
}

void AppendBytesElement(std::string& out, std::string_view s) {
  if (simdjson::validate_utf8(s.data(), s.size())) {
    AppendJsonString(out, s);
  } else {
    AppendJsonString(out, ValidUtf8(s));
  }
}

// Element i of a fixed-size datatype, as T.
template <typename T>
T At(const std::string& data, size_t i) {
  T v;
  std::memcpy(&v, data.data() + i * sizeof(T), sizeof(T));
  return v;
}

// Rough JSON characters per element, to reserve the output once.
size_t TextSizeHint(DataType type) {
  switch (type) {
    case DataType::kBool: return 6;
    case DataType::kUint8: case DataType::kInt8: return 4;
    case DataType::kUint16: case DataType::kInt16: case DataType::kFp16: return 7;
    case DataType::kUint32: case DataType::kInt32: case DataType::kFp32: return 12;
    default: return 21;
  }
}

// Writes elements 0..n-1 with `write(i)`, comma-separated, each sub-array of
// `shape` in its own brackets when nested: [[1,2,3],[4,5,6]] for [2,3].
template <typename Write>
void AppendArray(const std::vector<int64_t>& shape, size_t n, bool nested, std::string& out, Write write) {
  std::vector<size_t> block;  // elements under each depth: block[0] = n
  if (nested) {
    size_t size = n;
    for (int64_t d : shape) {
      block.push_back(size);
      size = d > 0 ? size / static_cast<size_t>(d) : 0;
    }
  }
  if (block.empty() || n == 0) block = {n};
  out += '[';
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) out += ',';
    for (size_t k = 1; k < block.size(); ++k) {  // outermost first
      if (i % block[k] == 0) out += '[';
    }
    write(i);
    for (size_t k = block.size() - 1; k >= 1; --k) {  // innermost first
      if ((i + 1) % block[k] == 0) out += ']';
    }
  }
  out += ']';
}

}  // namespace

void AppendShortestNumber(std::string& out, double v) { AppendFloat(out, v); }

void AppendTensorData(const Tensor& t, std::string& out, bool nested) {
  const size_t size = DataTypeSize(t.datatype);
  const std::vector<std::string_view> strings =
      t.datatype == DataType::kBytes ? t.Strings() : std::vector<std::string_view>{};
  const size_t n = size > 0 ? t.data.size() / size : strings.size();
  out.reserve(out.size() + 2 + n * TextSizeHint(t.datatype) +
              (t.datatype == DataType::kBytes ? t.data.size() : 0));
  const auto array = [&](auto write) { AppendArray(t.shape, n, nested, out, write); };
  switch (t.datatype) {
    case DataType::kBool: return array([&](size_t i) { out += At<uint8_t>(t.data, i) != 0 ? "true" : "false"; });
    case DataType::kUint8: return array([&](size_t i) { AppendInt(out, At<uint8_t>(t.data, i)); });
    case DataType::kUint16: return array([&](size_t i) { AppendInt(out, At<uint16_t>(t.data, i)); });
    case DataType::kUint32: return array([&](size_t i) { AppendInt(out, At<uint32_t>(t.data, i)); });
    case DataType::kUint64: return array([&](size_t i) { AppendInt(out, At<uint64_t>(t.data, i)); });
    case DataType::kInt8: return array([&](size_t i) { AppendInt(out, At<int8_t>(t.data, i)); });
    case DataType::kInt16: return array([&](size_t i) { AppendInt(out, At<int16_t>(t.data, i)); });
    case DataType::kInt32: return array([&](size_t i) { AppendInt(out, At<int32_t>(t.data, i)); });
    case DataType::kInt64: return array([&](size_t i) { AppendInt(out, At<int64_t>(t.data, i)); });
    case DataType::kFp16: return array([&](size_t i) { AppendHalf(out, At<uint16_t>(t.data, i)); });
    case DataType::kFp32: return array([&](size_t i) { AppendFloat(out, At<float>(t.data, i)); });
    case DataType::kFp64: return array([&](size_t i) { AppendFloat(out, At<double>(t.data, i)); });
    case DataType::kBytes: return array([&](size_t i) { AppendBytesElement(out, strings[i]); });
  }
}

}  // namespace tbms
