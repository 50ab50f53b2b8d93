// Guards the Tensor type: the datatype names of the KServe v2 spec (exact,
// upper case), element sizes and counts, the BYTES layout (4-byte
// little-endian length, then the bytes), and IEEE half conversion: exact
// known values, round to nearest even at every tie, subnormals, overflow to
// infinity, and every half surviving half -> float -> half.
#include "tbms/common/tensor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

namespace tbms {
namespace {

constexpr DataType kAllTypes[] = {
    DataType::kBool,  DataType::kUint8, DataType::kUint16, DataType::kUint32, DataType::kUint64,
    DataType::kInt8,  DataType::kInt16, DataType::kInt32,  DataType::kInt64,  DataType::kFp16,
    DataType::kFp32,  DataType::kFp64,  DataType::kBytes,
};

// ------------------------------------------------------------------ datatypes

TEST(DataTypeTest, NamesAndSizes) {
  struct Case {
    DataType type;
    std::string_view name;
    size_t size;
  };
  const Case cases[] = {
      {DataType::kBool, "BOOL", 1},     {DataType::kUint8, "UINT8", 1},
      {DataType::kUint16, "UINT16", 2}, {DataType::kUint32, "UINT32", 4},
      {DataType::kUint64, "UINT64", 8}, {DataType::kInt8, "INT8", 1},
      {DataType::kInt16, "INT16", 2},   {DataType::kInt32, "INT32", 4},
      {DataType::kInt64, "INT64", 8},   {DataType::kFp16, "FP16", 2},
      {DataType::kFp32, "FP32", 4},     {DataType::kFp64, "FP64", 8},
      {DataType::kBytes, "BYTES", 0},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(DataTypeName(c.type), c.name);
    EXPECT_EQ(DataTypeSize(c.type), c.size) << c.name;
    StatusOr<DataType> parsed = ParseDataType(c.name);
    ASSERT_TRUE(parsed.ok()) << c.name;
    EXPECT_EQ(*parsed, c.type);
  }
}

TEST(DataTypeTest, EveryNameParsesBack) {
  for (DataType t : kAllTypes) {
    StatusOr<DataType> parsed = ParseDataType(DataTypeName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
}

TEST(DataTypeTest, NamesAreExactAndCaseSensitive) {
  for (std::string_view bad : {"fp32", "Fp32", "FLOAT32", "FP32 ", "", "STRING", "BF16"}) {
    StatusOr<DataType> parsed = ParseDataType(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(ParseDataType("FLOAT32").status().message(),
            "unknown datatype 'FLOAT32' (expected BOOL, UINT8, UINT16, UINT32, UINT64, INT8, "
            "INT16, INT32, INT64, FP16, FP32, FP64, BYTES)");
}

// ------------------------------------------------------------------ tensor

TEST(TensorTest, ElementCountIsTheProductOfTheShape) {
  Tensor t;
  EXPECT_EQ(t.ElementCount(), 1);  // a scalar, shape []
  t.shape = {2, 3};
  EXPECT_EQ(t.ElementCount(), 6);
  t.shape = {4, 0, 5};
  EXPECT_EQ(t.ElementCount(), 0);
  t.shape = {1 << 20, 1 << 20};
  EXPECT_EQ(t.ElementCount(), int64_t{1} << 40);
}

TEST(TensorTest, ValuesViewsTheData) {
  Tensor t;
  t.datatype = DataType::kFp32;
  t.shape = {3};
  const float v[] = {1.5f, -2.0f, 0.25f};
  t.data.assign(reinterpret_cast<const char*>(v), sizeof v);
  std::span<const float> values = t.Values<float>();
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0], 1.5f);
  EXPECT_EQ(values[1], -2.0f);
  EXPECT_EQ(values[2], 0.25f);
}

TEST(TensorTest, AppendStringWritesLittleEndianLengthThenBytes) {
  Tensor t;
  t.AppendString("hi");
  t.AppendString("");
  EXPECT_EQ(t.data, std::string("\x02\x00\x00\x00hi\x00\x00\x00\x00", 10));
  std::string big(300, 'x');
  t.data.clear();
  t.AppendString(big);
  EXPECT_EQ(t.data.substr(0, 4), std::string("\x2c\x01\x00\x00", 4));  // 300 = 0x12c
}

TEST(TensorTest, StringsReadBackWhatWasAppended) {
  Tensor t;
  const std::vector<std::string> in = {"", "hello", std::string("a\0b", 3), "h\xc3\xa9llo",
                                       std::string(70000, 'z')};
  for (const std::string& s : in) t.AppendString(s);
  std::vector<std::string_view> out = t.Strings();
  ASSERT_EQ(out.size(), in.size());
  for (size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], in[i]) << i;
}

TEST(TensorTest, StringsStopsAtATruncatedElement) {
  Tensor t;
  t.AppendString("ok");
  t.AppendString("cut");
  t.data.pop_back();
  std::vector<std::string_view> out = t.Strings();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0], "ok");
  t.data = "\x01\x00";  // not even a length
  EXPECT_TRUE(t.Strings().empty());
}

// ------------------------------------------------------------------ half

TEST(HalfTest, KnownValues) {
  struct Case {
    float f;
    uint16_t h;
  };
  const Case cases[] = {
      {0.0f, 0x0000},
      {-0.0f, 0x8000},
      {1.0f, 0x3c00},
      {-2.0f, 0xc000},
      {0.5f, 0x3800},
      {65504.0f, 0x7bff},                 // the largest half
      {-65504.0f, 0xfbff},
      {0x1p-14f, 0x0400},                 // the smallest normal
      {0x1p-24f, 0x0001},                 // the smallest subnormal
      {0x3ffp-24f, 0x03ff},               // the largest subnormal
      {std::numeric_limits<float>::infinity(), 0x7c00},
      {-std::numeric_limits<float>::infinity(), 0xfc00},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(FloatToHalf(c.f), c.h) << c.f;
    EXPECT_EQ(std::bit_cast<uint32_t>(HalfToFloat(c.h)), std::bit_cast<uint32_t>(c.f)) << c.f;
  }
  // Not halves: the nearest ones.
  EXPECT_EQ(FloatToHalf(0.1f), 0x2e66);
  EXPECT_EQ(HalfToFloat(0x2e66), 0.0999755859375f);
  EXPECT_EQ(FloatToHalf(1.0f / 3), 0x3555);
  EXPECT_EQ(FloatToHalf(3.14159265f), 0x4248);
}

TEST(HalfTest, RoundsToNearestEven) {
  struct Case {
    float f;
    uint16_t h;
  };
  const Case cases[] = {
      {1.0f + 0x1p-11f, 0x3c00},            // tie between 0x3c00 and 0x3c01: even
      {1.0f + 3 * 0x1p-11f, 0x3c02},        // tie between 0x3c01 and 0x3c02: even
      {std::nextafter(1.0f + 0x1p-11f, 2.0f), 0x3c01},  // just above the tie
      {2049.0f, 0x6800},                    // 2048 and 2050 are halves; even is 2048
      {2051.0f, 0x6802},                    // 2050 and 2052; even is 2052
      {65519.0f, 0x7bff},                   // below the tie with 2^16: stays finite
      {65520.0f, 0x7c00},                   // the tie rounds to infinity (even)
      {1e10f, 0x7c00},
      {std::numeric_limits<float>::max(), 0x7c00},
      {0x1p-25f, 0x0000},                   // half the smallest subnormal: tie to 0
      {std::nextafter(0x1p-25f, 1.0f), 0x0001},
      {3 * 0x1p-25f, 0x0002},               // tie between 1 and 2 subnormal steps
      {5 * 0x1p-25f, 0x0002},               // tie between 2 and 3: even is 2
      {0x1p-30f, 0x0000},
      {std::numeric_limits<float>::denorm_min(), 0x0000},
      {-std::numeric_limits<float>::denorm_min(), 0x8000},
      {0x7ffp-25f, 0x0400},                 // the largest subnormal + half: rounds up to normal
  };
  for (const Case& c : cases) EXPECT_EQ(FloatToHalf(c.f), c.h) << c.f;
}

TEST(HalfTest, NaNStaysNaN) {
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::numeric_limits<float>::quiet_NaN()))));
  const uint16_t h = FloatToHalf(-std::numeric_limits<float>::quiet_NaN());
  EXPECT_EQ(h & 0x7c00, 0x7c00);
  EXPECT_NE(h & 0x3ff, 0);
  EXPECT_EQ(h & 0x8000, 0x8000);
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7c01)));
}

TEST(HalfTest, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t i = 0; i <= 0xffff; ++i) {
    const auto h = static_cast<uint16_t>(i);
    const float f = HalfToFloat(h);
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToHalf(f), h) << std::hex << i;
  }
}

// The nearest half by search over the sorted halves, ties to the even
// encoding: an independent reference for FloatToHalf.
uint16_t ReferenceHalf(float f) {
  static const std::vector<double> positives = [] {
    std::vector<double> v;
    for (uint32_t h = 0; h < 0x7c00; ++h) v.push_back(HalfToFloat(static_cast<uint16_t>(h)));
    v.push_back(65536.0);  // 0x7c00: infinity rounds as if it were 2^16
    return v;
  }();
  const double a = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (a >= 65536.0) return sign | 0x7c00;
  const auto it = std::lower_bound(positives.begin(), positives.end(), a);
  auto hi = static_cast<uint16_t>(it - positives.begin());
  if (positives[hi] == a || hi == 0) return sign | hi;
  const auto lo = static_cast<uint16_t>(hi - 1);
  const double dlo = a - positives[lo], dhi = positives[hi] - a;
  if (dlo < dhi) return sign | lo;
  if (dhi < dlo) return sign | hi;
  return sign | ((lo & 1) == 0 ? lo : hi);
}

TEST(HalfTest, MatchesAReferenceAcrossTheFloatRange) {
  // Every 4099th float bit pattern (about a million), plus every tie.
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 4099) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(bits));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), ReferenceHalf(f)) << f;
  }
  for (uint16_t h = 0; h < 0x7bff; ++h) {
    const float lo = HalfToFloat(h), hi = HalfToFloat(static_cast<uint16_t>(h + 1));
    const float mid = lo + (hi - lo) / 2;  // exact: a half has 11 significand bits
    ASSERT_EQ(FloatToHalf(mid), (h & 1) == 0 ? h : h + 1) << mid;
    ASSERT_EQ(FloatToHalf(std::nextafter(mid, 0.0f)), h) << mid;
    ASSERT_EQ(FloatToHalf(std::nextafter(mid, 1e9f)), h + 1) << mid;
  }
}

}  // namespace
}  // namespace tbms
