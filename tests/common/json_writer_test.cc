// Guards the JSON writer's output byte for byte: string escaping per RFC 8259
// (quotes, backslash, the named control escapes, other control characters as
// \u00XX, UTF-8 passed through untouched, bytes that are not UTF-8 as
// U+FFFD), numbers with up to three decimals
// and no trailing zeros (negative zero is 0, non-finite values are null), and
// commas placed right in nested objects and arrays, including Raw values.
#include "tbms/common/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <string_view>

namespace tbms {
namespace {

std::string Str(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

std::string Num(double v) {
  std::string out;
  AppendJsonNumber(out, v);
  return out;
}

// ------------------------------------------------------------------ strings

TEST(JsonStringTest, PlainTextIsQuoted) {
  EXPECT_EQ(Str("hello world"), R"("hello world")");
  EXPECT_EQ(Str(""), R"("")");
}

TEST(JsonStringTest, QuotesAndBackslashAreEscaped) {
  EXPECT_EQ(Str(R"(say "hi")"), R"("say \"hi\"")");
  EXPECT_EQ(Str(R"(C:\dir\file)"), R"("C:\\dir\\file")");
  EXPECT_EQ(Str(R"(\")"), R"("\\\"")");
}

TEST(JsonStringTest, NamedControlEscapes) {
  EXPECT_EQ(Str("a\nb"), R"("a\nb")");
  EXPECT_EQ(Str("a\rb"), R"("a\rb")");
  EXPECT_EQ(Str("a\tb"), R"("a\tb")");
}

TEST(JsonStringTest, OtherControlCharactersAreUnicodeEscapedInLowercaseHex) {
  EXPECT_EQ(Str(std::string_view("\0", 1)), R"("\u0000")");
  EXPECT_EQ(Str("\x01"), R"("\u0001")");
  EXPECT_EQ(Str("\b"), R"("\u0008")");
  EXPECT_EQ(Str("\f"), R"("\u000c")");
  EXPECT_EQ(Str("\x1b[0m"), R"("\u001b[0m")");
  EXPECT_EQ(Str("\x1f"), R"("\u001f")");
}

TEST(JsonStringTest, EmbeddedNulDoesNotTruncate) {
  EXPECT_EQ(Str(std::string_view("a\0b", 3)), R"("a\u0000b")");
}

TEST(JsonStringTest, SpaceDelAndSlashPassThrough) {
  EXPECT_EQ(Str(" "), R"(" ")");
  EXPECT_EQ(Str("\x7f"), "\"\x7f\"");
  EXPECT_EQ(Str("a/b"), R"("a/b")");
}

// Regression guard: bytes >= 0x80 are negative as `char`; they must not be
// mistaken for control characters and \u-escaped.
TEST(JsonStringTest, Utf8PassesThroughUnchanged) {
  const std::string utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac";
  EXPECT_EQ(Str(utf8), "\"" + utf8 + "\"");
}

// A name or path as a client sent it may be any bytes; what is written stays JSON.
TEST(JsonStringTest, BytesThatAreNotUtf8BecomeTheReplacementCharacter) {
  EXPECT_EQ(Str("a\xff\xfe"), "\"a\\ufffd\\ufffd\"");
  EXPECT_EQ(Str("\xc3"), "\"\\ufffd\"");                 // a sequence cut short
  EXPECT_EQ(Str("\xc3\xa9\xa9"), "\"\xc3\xa9\\ufffd\"");  // a stray continuation byte
  EXPECT_EQ(Str("\xc0\xaf"), "\"\\ufffd\\ufffd\"");        // an overlong '/'
  EXPECT_EQ(Str("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a surrogate
  EXPECT_EQ(Str("\xf4\x90\x80\x80"), "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");  // past U+10FFFF
  EXPECT_EQ(Str("\xf4\x8f\xbf\xbf"), "\"\xf4\x8f\xbf\xbf\"");  // U+10FFFF itself
}

TEST(JsonStringTest, AppendsWithoutClearing) {
  std::string out = "x=";
  AppendJsonString(out, "y");
  EXPECT_EQ(out, R"(x="y")");
}

// ------------------------------------------------------------------ numbers

TEST(JsonNumberTest, DropsTrailingZerosAndPoint) {
  EXPECT_EQ(Num(1.5), "1.5");
  EXPECT_EQ(Num(12), "12");
  EXPECT_EQ(Num(0.025), "0.025");
  EXPECT_EQ(Num(0), "0");
  EXPECT_EQ(Num(100), "100");  // zeros before the point stay
  EXPECT_EQ(Num(10.5), "10.5");
  EXPECT_EQ(Num(2.25), "2.25");
}

TEST(JsonNumberTest, Negatives) {
  EXPECT_EQ(Num(-1.5), "-1.5");
  EXPECT_EQ(Num(-12), "-12");
  EXPECT_EQ(Num(-0.025), "-0.025");
}

TEST(JsonNumberTest, RoundsToThreeDecimals) {
  EXPECT_EQ(Num(1.23456), "1.235");
  EXPECT_EQ(Num(0.0004), "0");
  EXPECT_EQ(Num(2.9999), "3");
  EXPECT_EQ(Num(1.0 / 3.0), "0.333");
}

TEST(JsonNumberTest, NegativeZeroIsZero) {
  EXPECT_EQ(Num(-0.0), "0");
  EXPECT_EQ(Num(-0.0001), "0");  // rounds to -0.000
}

TEST(JsonNumberTest, NonFiniteIsNull) {
  EXPECT_EQ(Num(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(Num(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(Num(-std::numeric_limits<double>::infinity()), "null");
}

TEST(JsonNumberTest, LargeIntegralValuesAreExact) {
  EXPECT_EQ(Num(1e15), "1000000000000000");
  EXPECT_EQ(Num(123456789.125), "123456789.125");
}

// ------------------------------------------------------------------- writer

TEST(JsonWriterTest, EmptyContainers) {
  std::string out;
  JsonWriter(out).BeginObject().EndObject();
  EXPECT_EQ(out, "{}");
  out.clear();
  JsonWriter(out).BeginArray().EndArray();
  EXPECT_EQ(out, "[]");
}

TEST(JsonWriterTest, FlatObjectOfEveryValueKind) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject()
      .Key("s").String("v\"")
      .Key("n").Number(1.5)
      .Key("i").Int(-42)
      .Key("t").Bool(true)
      .Key("f").Bool(false)
      .Key("z").Null()
      .EndObject();
  EXPECT_EQ(out, R"({"s":"v\"","n":1.5,"i":-42,"t":true,"f":false,"z":null})");
}

TEST(JsonWriterTest, KeysAreEscaped) {
  std::string out;
  JsonWriter(out).BeginObject().Key("a\"b\n").Int(1).EndObject();
  EXPECT_EQ(out, R"({"a\"b\n":1})");
}

TEST(JsonWriterTest, ArrayOfScalars) {
  std::string out;
  JsonWriter(out).BeginArray().Int(1).Number(0.025).String("x").Null().EndArray();
  EXPECT_EQ(out, R"([1,0.025,"x",null])");
}

TEST(JsonWriterTest, NestedObjectsAndArraysPlaceCommasRight) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject();
  w.Key("a").BeginObject().Key("b").Int(1).Key("c").BeginArray().EndArray().EndObject();
  w.Key("d").BeginArray();
  w.BeginObject().Key("x").Int(1).EndObject();
  w.BeginObject().EndObject();
  w.BeginArray().Int(2).BeginArray().Int(3).EndArray().EndArray();
  w.Int(4);
  w.EndArray();
  w.Key("e").BeginObject().EndObject();
  w.Key("f").Int(5);
  w.EndObject();
  EXPECT_EQ(out, R"({"a":{"b":1,"c":[]},"d":[{"x":1},{},[2,[3]],4],"e":{},"f":5})");
}

TEST(JsonWriterTest, RawIsAValueWithCommasAroundIt) {
  std::string out;
  JsonWriter w(out);
  w.BeginObject()
      .Key("before").Int(1)
      .Key("raw").Raw(R"({"pre":"made","n":[1,2]})")
      .Key("after").Int(2)
      .Key("list").BeginArray().Raw("true").Raw(R"("s")").Int(3).EndArray()
      .EndObject();
  EXPECT_EQ(out,
            R"({"before":1,"raw":{"pre":"made","n":[1,2]},"after":2,"list":[true,"s",3]})");
}

TEST(JsonWriterTest, RawIsNotEscaped) {
  std::string out;
  JsonWriter(out).BeginArray().Raw("\"already\\nescaped\"").EndArray();
  EXPECT_EQ(out, R"(["already\nescaped"])");
}

TEST(JsonWriterTest, AppendsToExistingText) {
  std::string out = "data: ";
  JsonWriter(out).BeginObject().Key("k").Int(1).EndObject();
  EXPECT_EQ(out, R"(data: {"k":1})");
}

TEST(JsonWriterTest, WriterNumberUsesTheSameFormat) {
  std::string out;
  JsonWriter(out)
      .BeginArray()
      .Number(12)
      .Number(-0.0)
      .Number(std::nan(""))
      .Number(0.025)
      .EndArray();
  EXPECT_EQ(out, "[12,0,null,0.025]");
}

}  // namespace
}  // namespace tbms
