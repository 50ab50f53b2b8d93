// Conformance of the KServe v2 (Open Inference Protocol) JSON edge: every
// datatype round-trips (parse, write, parse again: the same bytes), down to
// the extremes of each range; nested data equals flat data; each malformed
// request gets its own error naming the field; model answers become output
// tensors; and a response is written byte for byte as expected.
#include "tbms/kserve/v2_json.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tbms/broker/limits.h"

namespace tbms {
namespace {

// Parses one tensor given as JSON, through a whole infer request.
StatusOr<Tensor> ParseTensor(std::string_view tensor_json, const TensorLimits& limits = {}) {
  StatusOr<InferRequest> r =
      ParseInferRequest("{\"inputs\": [" + std::string(tensor_json) + "]}", limits);
  if (!r.ok()) return r.status();
  return std::move(r->inputs[0]);
}

std::string TensorJson(std::string_view datatype, std::string_view shape, std::string_view data) {
  return "{\"name\": \"x\", \"datatype\": \"" + std::string(datatype) + "\", \"shape\": " +
         std::string(shape) + ", \"data\": " + std::string(data) + "}";
}

std::string Json(const Tensor& t) {
  std::string out;
  AppendTensorJson(t, out);
  return out;
}

std::string Data(const Tensor& t) {
  std::string out;
  AppendTensorData(t, out);
  return out;
}

template <typename T>
Tensor Make(DataType type, std::vector<int64_t> shape, const std::vector<T>& values) {
  Tensor t;
  t.name = "x";
  t.datatype = type;
  t.shape = std::move(shape);
  t.data.assign(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
  return t;
}

void ExpectSameTensor(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.datatype, b.datatype);
  EXPECT_EQ(a.shape, b.shape);
  EXPECT_EQ(a.data, b.data);  // bytes: floats compare by bits, -0 included
}

// ------------------------------------------------------------------ round trips

struct RoundTrip {
  const char* datatype;
  const char* shape;
  const char* data;      // as sent
  const char* written;   // as AppendTensorData writes it back
};

// One row per datatype, with the extremes of its range.
const RoundTrip kRoundTrips[] = {
    {"BOOL", "[3]", "[true, false, true]", "[true,false,true]"},
    {"UINT8", "[3]", "[0, 1, 255]", "[0,1,255]"},
    {"UINT16", "[2]", "[0, 65535]", "[0,65535]"},
    {"UINT32", "[2]", "[0, 4294967295]", "[0,4294967295]"},
    {"UINT64", "[3]", "[0, 9223372036854775808, 18446744073709551615]",
     "[0,9223372036854775808,18446744073709551615]"},
    {"INT8", "[3]", "[-128, 0, 127]", "[-128,0,127]"},
    {"INT16", "[2]", "[-32768, 32767]", "[-32768,32767]"},
    {"INT32", "[2]", "[-2147483648, 2147483647]", "[-2147483648,2147483647]"},
    {"INT64", "[2]", "[-9223372036854775808, 9223372036854775807]",
     "[-9223372036854775808,9223372036854775807]"},
    {"INT32", "[3]", "[2.0, 1e3, -0.0]", "[2,1000,0]"},  // integral numbers count
    {"FP16", "[6]", "[65504, -65504, 0.1, 5.9604645e-8, 6.1035156e-5, -0.0]",
     "[65504,-65504,0.1,6e-08,6.104e-05,-0.0]"},
    {"FP16", "[3]", "[1, 2, 65519]", "[1,2,65504]"},  // 65519 rounds to the largest half
    {"FP32", "[6]", "[3.4028234663852886e38, -3.4028235e38, 1.17549435e-38, 1e-45, 0.1, -0.0]",
     "[3.4028235e+38,-3.4028235e+38,1.1754944e-38,1e-45,0.1,-0.0]"},
    {"FP32", "[3]", "[1, 16777217, 1e-50]", "[1,16777216,0]"},  // rounded to float
    // The shortest text of this float, 7.038531e-26, reads back (through
    // double) as its neighbour; nine digits do not.
    {"FP32", "[2]", "[7.03853069e-26, -7.03853069e-26]", "[7.03853069e-26,-7.03853069e-26]"},
    {"FP64", "[6]", "[1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, 0.1, -2.5, 3]",
     "[1.7976931348623157e+308,5e-324,2.2250738585072014e-308,0.1,-2.5,3]"},
    {"FP64", "[2]", "[9007199254740993, 18446744073709551615]",
     "[9007199254740992,1.8446744073709552e+19]"},  // integers rounded to double
    {"BYTES", "[4]", R"(["", "hello", "h\u00e9llo \u2713", "a\"b\\c\n\u0001"])",
     R"(["","hello","héllo ✓","a\"b\\c\n\u0001"])"},
    {"FP32", "[0]", "[]", "[]"},
    {"BYTES", "[0]", "[]", "[]"},
    {"INT32", "[2,0]", "[]", "[]"},
    {"INT32", "[2,0]", "[[], []]", "[]"},
    {"INT32", "[]", "[7]", "[7]"},  // a scalar
    {"FP64", "[1,1,1,1,1,1,1,1]", "[[[[[[[[0.5]]]]]]]]", "[0.5]"},
};

TEST(V2JsonRoundTripTest, EveryDatatypeSurvivesWriteAndReadBack) {
  for (const RoundTrip& c : kRoundTrips) {
    SCOPED_TRACE(std::string(c.datatype) + " " + c.data);
    StatusOr<Tensor> first = ParseTensor(TensorJson(c.datatype, c.shape, c.data));
    ASSERT_TRUE(first.ok()) << first.status().ToString();
    EXPECT_EQ(Data(*first), c.written);
    StatusOr<Tensor> second = ParseTensor(Json(*first));
    ASSERT_TRUE(second.ok()) << second.status().ToString();
    ExpectSameTensor(*first, *second);
  }
}

TEST(V2JsonRoundTripTest, StoredBytesAreExact) {
  StatusOr<Tensor> t = ParseTensor(TensorJson("INT64", "[2]", "[-9223372036854775808, -1]"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Values<int64_t>()[0], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(t->Values<int64_t>()[1], -1);

  t = ParseTensor(TensorJson("UINT64", "[1]", "[18446744073709551615]"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Values<uint64_t>()[0], std::numeric_limits<uint64_t>::max());

  t = ParseTensor(TensorJson("BOOL", "[2]", "[true, false]"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data, std::string("\x01\x00", 2));

  t = ParseTensor(TensorJson("FP16", "[2]", "[1, -2]"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Values<uint16_t>()[0], 0x3c00);
  EXPECT_EQ(t->Values<uint16_t>()[1], 0xc000);

  t = ParseTensor(TensorJson("FP32", "[2]", "[1e-45, 3.4028235e38]"));  // rounded to float
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Values<float>()[0], std::numeric_limits<float>::denorm_min());
  EXPECT_EQ(t->Values<float>()[1], std::numeric_limits<float>::max());

  t = ParseTensor(TensorJson("BYTES", "[2]", R"(["ab", ""])"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->data, std::string("\x02\x00\x00\x00" "ab" "\x00\x00\x00\x00", 10));
}

TEST(V2JsonRoundTripTest, Fp16RoundsOnceFromTheDecimal) {
  // 1 + 2^-11 + 2^-40: just above the tie between 1 and 1 + 2^-10. Rounded
  // to float first, it would land on the tie and then go to even (1.0).
  StatusOr<Tensor> t =
      ParseTensor(TensorJson("FP16", "[2]", "[1.0004882812509095, 1.00048828125]"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->Values<uint16_t>()[0], 0x3c01);
  EXPECT_EQ(t->Values<uint16_t>()[1], 0x3c00);  // the tie itself: even
}

TEST(V2JsonRoundTripTest, EveryFiniteHalf) {
  std::vector<uint16_t> halves;
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    if ((h & 0x7c00) != 0x7c00) halves.push_back(static_cast<uint16_t>(h));
  }
  const Tensor t =
      Make(DataType::kFp16, {static_cast<int64_t>(halves.size())}, halves);
  StatusOr<Tensor> back = ParseTensor(Json(t), {.max_elements = 1 << 20});
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ExpectSameTensor(t, *back);
}

TEST(V2JsonRoundTripTest, RandomFloatsAndDoubles) {
  std::mt19937_64 rng(7);
  std::vector<float> floats;
  std::vector<double> doubles;
  while (floats.size() < 100000) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    if (std::isfinite(f)) floats.push_back(f);
  }
  while (doubles.size() < 100000) {
    const double d = std::bit_cast<double>(rng());
    if (std::isfinite(d)) doubles.push_back(d);
  }
  for (const Tensor& t : {Make(DataType::kFp32, {100000}, floats),
                          Make(DataType::kFp64, {1000, 100}, doubles)}) {
    StatusOr<Tensor> back = ParseTensor(Json(t));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ExpectSameTensor(t, *back);
  }
}

TEST(V2JsonRoundTripTest, NestedDataEqualsFlatData) {
  struct Case {
    const char* datatype;
    const char* shape;
    const char* nested;
    const char* flat;
  };
  const Case cases[] = {
      {"FP32", "[2,3]", "[[1, 2, 3], [4, 5, 6]]", "[1, 2, 3, 4, 5, 6]"},
      {"INT8", "[2,2,2]", "[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]", "[1, 2, 3, 4, 5, 6, 7, 8]"},
      {"BYTES", "[1,2]", R"([["a", "b"]])", R"(["a", "b"])"},
      {"BOOL", "[3,1]", "[[true], [false], [true]]", "[true, false, true]"},
  };
  for (const Case& c : cases) {
    StatusOr<Tensor> nested = ParseTensor(TensorJson(c.datatype, c.shape, c.nested));
    StatusOr<Tensor> flat = ParseTensor(TensorJson(c.datatype, c.shape, c.flat));
    ASSERT_TRUE(nested.ok()) << nested.status().ToString();
    ASSERT_TRUE(flat.ok()) << flat.status().ToString();
    ExpectSameTensor(*nested, *flat);
  }
}

// ------------------------------------------------------------------ output

TEST(V2JsonWriteTest, TensorObject) {
  const Tensor t = Make<int32_t>(DataType::kInt32, {2, 2}, {1, -2, 3, 4});
  EXPECT_EQ(Json(t), R"({"name":"x","datatype":"INT32","shape":[2,2],"data":[1,-2,3,4]})");
}

TEST(V2JsonWriteTest, NonFiniteFloatsAreNull) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Data(Make<float>(DataType::kFp32, {3}, {inf, -inf, nan})), "[null,null,null]");
  EXPECT_EQ(Data(Make<double>(DataType::kFp64, {2}, {-HUGE_VAL, 1.5})), "[null,1.5]");
  EXPECT_EQ(Data(Make<uint16_t>(DataType::kFp16, {2}, {0x7c00, 0x7e00})), "[null,null]");
}

TEST(V2JsonWriteTest, BytesAreValidUtf8) {
  Tensor t;
  t.datatype = DataType::kBytes;
  t.shape = {3};
  t.AppendString("ok \xc3\xa9");
  t.AppendString("bad \xff\xc3(");            // an invalid byte, a cut sequence
  t.AppendString(std::string("nul\0", 4));
  EXPECT_EQ(Data(t), "[\"ok \xc3\xa9\",\"bad \xef\xbf\xbd\xef\xbf\xbd(\",\"nul\\u0000\"]");
}

TEST(V2JsonWriteTest, InferResponse) {
  InferResponse r;
  r.model_name = "svm";
  r.model_version = "2";
  r.id = "req-1";
  r.outputs.push_back(Make<float>(DataType::kFp32, {2}, {0.5f, 1.25f}));
  r.outputs[0].name = "scores";
  Tensor label;
  label.name = "label";
  label.shape = {1};
  label.AppendString("cat");
  r.outputs.push_back(label);
  std::string out;
  WriteInferResponse(r, out);
  EXPECT_EQ(out,
            R"({"model_name":"svm","model_version":"2","id":"req-1","outputs":[)"
            R"({"name":"scores","datatype":"FP32","shape":[2],"data":[0.5,1.25]},)"
            R"({"name":"label","datatype":"BYTES","shape":[1],"data":["cat"]}]})");

  r.id.clear();
  r.outputs.clear();
  out = "prefix ";  // appends
  WriteInferResponse(r, out);
  EXPECT_EQ(out, R"(prefix {"model_name":"svm","model_version":"2","outputs":[]})");
}

// ------------------------------------------------------------------ requests

TEST(V2JsonRequestTest, ParsesAFullRequest) {
  StatusOr<InferRequest> r = ParseInferRequest(R"({
    "id": "42",
    "parameters": {"tloc": 50.5, "priority": -3, "temperature": 0.7},
    "inputs": [
      {"name": "a", "shape": [2], "datatype": "FP32", "data": [1, 2], "parameters": {"x": 1}},
      {"name": "b", "shape": [1], "datatype": "BYTES", "data": ["q"]}
    ],
    "outputs": [{"name": "y"}, {"name": "z", "parameters": {"binary_data": false}}]
  })");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "42");
  EXPECT_EQ(r->tloc, Millis(50.5));
  EXPECT_EQ(r->priority, -3);
  ASSERT_EQ(r->inputs.size(), 2u);
  EXPECT_EQ(r->inputs[0].name, "a");
  EXPECT_EQ(r->inputs[0].datatype, DataType::kFp32);
  EXPECT_EQ(r->inputs[0].shape, std::vector<int64_t>{2});
  EXPECT_EQ(r->inputs[1].Strings(), std::vector<std::string_view>{"q"});
  EXPECT_EQ(r->outputs, (std::vector<std::string>{"y", "z"}));
}

// parameters.tloc and parameters.priority have the broker's limits
// (tbms/broker/limits.h), as a try's do.
TEST(V2JsonRequestTest, ParametersHaveTheBrokersLimits) {
  auto with = [](const std::string& parameters) {
    return ParseInferRequest(R"({"parameters": {)" + parameters +
                             R"(}, "inputs": [{"name": "a", "shape": [], "datatype": "BOOL", "data": [true]}]})");
  };
  auto r = with("\"tloc\": " + std::to_string(limits::kMaxTlocMs) + ", \"priority\": " +
                std::to_string(limits::kMaxPriority));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->tloc, limits::kMaxTloc);
  EXPECT_EQ(r->priority, limits::kMaxPriority);
  EXPECT_FALSE(with("\"tloc\": " + std::to_string(limits::kMaxTlocMs + 1)).ok());
  EXPECT_FALSE(with("\"priority\": " + std::to_string(-limits::kMaxPriority - 1)).ok());
}

TEST(V2JsonRequestTest, Defaults) {
  StatusOr<InferRequest> r = ParseInferRequest(
      R"({"inputs": [{"name": "a", "shape": [], "datatype": "BOOL", "data": [true]}]})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "");
  EXPECT_FALSE(r->tloc.has_value());
  EXPECT_EQ(r->priority, 0);
  EXPECT_TRUE(r->outputs.empty());
}

std::string Request(std::string_view tensor) {
  return "{\"inputs\": [" + std::string(tensor) + "]}";
}

struct ErrorCase {
  std::string body;
  std::string message;
};

std::vector<ErrorCase> ErrorCases() {
  const std::string ok = TensorJson("FP32", "[1]", "[0.5]");
  return {
      // the body
      {"[]", "the body must be a JSON object"},
      {"{}", "inputs is required, e.g. [{\"name\": \"x\", \"shape\": [1], \"datatype\": \"FP32\", "
             "\"data\": [0.5]}]"},
      {R"({"model_name": "m", "inputs": []})",
       "unknown field 'model_name' (expected id, parameters, inputs, outputs)"},
      {R"({"id": 7, "inputs": []})", "id must be a string"},
      {R"({"inputs": {}})", "inputs must be an array of tensors"},
      {R"({"inputs": []})", "inputs must not be empty"},
      {R"({"inputs": [1]})",
       "inputs[0] must be a tensor object like {\"name\": \"x\", \"shape\": [2], \"datatype\": "
       "\"FP32\", \"data\": [0.5, 1.5]}"},
      {"{\"inputs\": [" + ok + ", " + ok + "]}", "inputs[1].name 'x' is already used by inputs[0]"},
      // parameters
      {R"({"parameters": [], "inputs": []})", "parameters must be an object"},
      {R"({"parameters": {"tloc": "50"}, "inputs": []})", "parameters.tloc must be a number of milliseconds"},
      {R"({"parameters": {"tloc": 0}, "inputs": []})", "parameters.tloc must be in (0, 600000] ms, got 0"},
      {R"({"parameters": {"tloc": 0.0001}, "inputs": []})",  // below the clock's microsecond
       "parameters.tloc must be in (0, 600000] ms, got 0.0001"},
      {R"({"parameters": {"tloc": 700000}, "inputs": []})",
       "parameters.tloc must be in (0, 600000] ms, got 700000"},
      {R"({"parameters": {"tloc": 50, "tloc": 60}, "inputs": []})", "parameters: duplicate field 'tloc'"},
      {R"({"parameters": {}, "inputs": [], "parameters": {}})", "duplicate field 'parameters'"},
      {R"({"parameters": {"priority": 1.5}, "inputs": []})",
       "parameters.priority must be an integer"},
      {R"({"parameters": {"priority": 1001}, "inputs": []})",
       "parameters.priority must be in [-1000, 1000]"},
      // outputs
      {"{\"inputs\": [" + ok + "], \"outputs\": {}}",
       "outputs must be an array of {\"name\": ...} objects"},
      {"{\"inputs\": [" + ok + "], \"outputs\": [\"y\"]}",
       "outputs[0] must be an object like {\"name\": \"scores\"}"},
      {"{\"inputs\": [" + ok + "], \"outputs\": [{}]}", "outputs[0].name is required"},
      {"{\"inputs\": [" + ok + "], \"outputs\": [{\"name\": \"\"}]}",
       "outputs[0].name must be a non-empty string"},
      {"{\"inputs\": [" + ok + "], \"outputs\": [{\"name\": \"y\", \"binary_data\": true}]}",
       "outputs[0]: unknown field 'binary_data' (expected name, parameters)"},
      {"{\"inputs\": [" + ok + "], \"outputs\": [{\"name\": \"y\", \"parameters\": 1}]}",
       "outputs[0].parameters must be an object"},
      {"{\"inputs\": [" + ok + "], \"outputs\": [{\"name\": \"y\"}, {\"name\": \"y\"}]}",
       "outputs[1].name 'y' is already used by outputs[0]"},
      // tensor fields
      {Request(R"({"shape": [1], "datatype": "FP32", "data": [1]})"), "inputs[0].name is required"},
      {Request(R"({"name": "x", "datatype": "FP32", "data": [1]})"), "inputs[0].shape is required"},
      {Request(R"({"name": "x", "shape": [1], "data": [1]})"), "inputs[0].datatype is required"},
      {Request(R"({"name": "x", "shape": [1], "datatype": "FP32"})"), "inputs[0].data is required"},
      {Request(R"({"name": "", "shape": [1], "datatype": "FP32", "data": [1]})"),
       "inputs[0].name must be a non-empty string"},
      {Request(R"({"name": 3, "shape": [1], "datatype": "FP32", "data": [1]})"),
       "inputs[0].name must be a non-empty string"},
      {Request(R"({"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "contents": {}})"),
       "inputs[0]: unknown field 'contents' (expected name, shape, datatype, data, parameters)"},
      {Request(R"({"name": "x", "shape": [1], "datatype": "FP32", "data": [1], "parameters": []})"),
       "inputs[0].parameters must be an object"},
      {Request(TensorJson("FP32", "[-1]", "[]")),
       "inputs[0].shape must be an array of non-negative integers"},
      {Request(TensorJson("FP32", "[1.5]", "[]")),
       "inputs[0].shape must be an array of non-negative integers"},
      {Request(TensorJson("FP32", "[18446744073709551615]", "[]")),
       "inputs[0].shape must be an array of non-negative integers"},
      {Request(TensorJson("FP32", "2", "[1, 2]")),
       "inputs[0].shape must be an array of non-negative integers"},
      {Request(TensorJson("FP32", "[1,1,1,1,1,1,1,1,1]", "[1]")),
       "inputs[0].shape has rank 9, at most 8 is allowed"},
      {Request(TensorJson("FLOAT32", "[1]", "[1]")),
       "inputs[0].datatype: unknown datatype 'FLOAT32' (expected BOOL, UINT8, UINT16, UINT32, "
       "UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES)"},
      {Request(R"({"name": "x", "shape": [1], "datatype": 11, "data": [1]})"),
       "inputs[0].datatype must be a string like \"FP32\""},
      {Request(TensorJson("FP32", "[1]", "1")),
       "inputs[0].data must be an array, flat or nested as the shape"},
      {Request(TensorJson("FP32", "[1]", "\"AAAA\"")),
       "inputs[0].data must be an array, flat or nested as the shape"},
      // the element count and the nesting
      {"{\"inputs\": [" + ok + ", " + R"({"name": "y", "shape": [2,3], "datatype": "FP32", )" +
           R"("data": [1, 2, 3, 4, 5]}]})",
       "inputs[1].data: expected 6 elements for shape [2,3], got 5"},
      {Request(TensorJson("FP32", "[]", "[1, 2]")),
       "inputs[0].data: expected 1 elements for shape [], got 2"},
      {Request(TensorJson("FP32", "[0]", "[1]")),
       "inputs[0].data: expected 0 elements for shape [0], got 1"},
      {Request(TensorJson("FP32", "[2,3]", "[[1, 2, 3]]")),
       "inputs[0].data: expected 2 elements for shape [2,3], got 1"},
      {Request(TensorJson("FP32", "[2,3]", "[[1, 2, 3], [4, 5]]")),
       "inputs[0].data[1]: expected 3 elements for shape [2,3], got 2"},
      {Request(TensorJson("FP32", "[2,2,2]", "[[[1, 2], [3, 4]], [5, 6]]")),
       "inputs[0].data[1][0] must be an array (nested data follows shape [2,2,2])"},
      {Request(TensorJson("FP32", "[2,1]", "[[[1]], [[2]]]")),
       "inputs[0].data[0][0] must be a number (FP32), got an array"},
      {Request(TensorJson("FP32", "[2]", "[1, [2]]")),
       "inputs[0].data[1] must be a number (FP32), got an array"},
      {Request(TensorJson("FP32", "[2]", "[[1], [2]]")),
       "inputs[0].data[0] must be a number (FP32), got an array"},
      // element types and ranges
      {Request(TensorJson("UINT8", "[4]", "[1, 2, 3, 300]")),
       "inputs[0].data[3]: 300 is out of range for UINT8"},
      {Request(TensorJson("UINT8", "[2,2]", "[[1, 2], [-1, 4]]")),
       "inputs[0].data[1][0]: -1 is out of range for UINT8"},
      {Request(TensorJson("UINT16", "[1]", "[65536]")),
       "inputs[0].data[0]: 65536 is out of range for UINT16"},
      {Request(TensorJson("UINT32", "[1]", "[4294967296]")),
       "inputs[0].data[0]: 4294967296 is out of range for UINT32"},
      {Request(TensorJson("UINT64", "[1]", "[-1]")),
       "inputs[0].data[0]: -1 is out of range for UINT64"},
      {Request(TensorJson("INT8", "[2]", "[-128, -129]")),
       "inputs[0].data[1]: -129 is out of range for INT8"},
      {Request(TensorJson("INT8", "[1]", "[128]")),
       "inputs[0].data[0]: 128 is out of range for INT8"},
      {Request(TensorJson("INT16", "[1]", "[32768]")),
       "inputs[0].data[0]: 32768 is out of range for INT16"},
      {Request(TensorJson("INT32", "[1]", "[-2147483649]")),
       "inputs[0].data[0]: -2147483649 is out of range for INT32"},
      {Request(TensorJson("INT64", "[1]", "[9223372036854775808]")),
       "inputs[0].data[0]: 9223372036854775808 is out of range for INT64"},
      {Request(TensorJson("INT32", "[1]", "[2.5]")),
       "inputs[0].data[0] must be an integer (INT32), got 2.5"},
      {Request(TensorJson("INT32", "[1]", "[\"1\"]")),
       "inputs[0].data[0] must be an integer (INT32), got a string"},
      {Request(TensorJson("INT64", "[1]", "[1e19]")),
       "inputs[0].data[0]: 1e+19 is not an exact integer (INT64); write it without a fraction "
       "or exponent"},
      {Request(TensorJson("BOOL", "[2]", "[true, 1]")),
       "inputs[0].data[1] must be true or false (BOOL), got a number"},
      {Request(TensorJson("BOOL", "[1]", "[\"true\"]")),
       "inputs[0].data[0] must be true or false (BOOL), got a string"},
      {Request(TensorJson("FP16", "[1]", "[65520]")),
       "inputs[0].data[0]: 65520 is out of range for FP16"},
      {Request(TensorJson("FP16", "[1]", "[-1e5]")),
       "inputs[0].data[0]: -1e+05 is out of range for FP16"},
      {Request(TensorJson("FP32", "[1]", "[3.5e38]")),
       "inputs[0].data[0]: 3.5e+38 is out of range for FP32"},
      {Request(TensorJson("FP32", "[1]", "[3.4028235677973366e38]")),  // rounds to infinity
       "inputs[0].data[0]: 3.4028235677973366e+38 is out of range for FP32"},
      {Request(TensorJson("FP32", "[1]", "[null]")),
       "inputs[0].data[0] must be a number (FP32), got null"},
      {Request(TensorJson("FP64", "[1]", "[\"NaN\"]")),
       "inputs[0].data[0] must be a number (FP64), got a string"},
      {Request(TensorJson("FP64", "[1]", "[{}]")),
       "inputs[0].data[0] must be a number (FP64), got an object"},
      {Request(TensorJson("BYTES", "[2]", "[\"a\", 5]")),
       "inputs[0].data[1] must be a string (BYTES), got a number"},
  };
}

TEST(V2JsonRequestTest, EachErrorNamesTheField) {
  for (const ErrorCase& c : ErrorCases()) {
    StatusOr<InferRequest> r = ParseInferRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << c.body;
    EXPECT_EQ(r.status().message(), c.message) << c.body;
  }
}

TEST(V2JsonRequestTest, MalformedJsonAndNonFiniteNumbers) {
  // JSON has no NaN or infinity: malformed JSON. Numbers beyond the double
  // or 64-bit integer range do not parse, and say so.
  for (std::string_view bad : {"{", "nope", "{\"inputs\": [NaN]}", "{\"inputs\": [Infinity]}"}) {
    StatusOr<InferRequest> r = ParseInferRequest(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message().rfind("malformed JSON: ", 0), 0u) << r.status().message();
  }
  for (std::string_view bad : {"{\"inputs\": [1e400]}", "{\"inputs\": [18446744073709551616]}"}) {
    StatusOr<InferRequest> r = ParseInferRequest(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().message(),
              "a number in the JSON is malformed or out of range (numbers must fit a 64-bit float)");
  }
}

TEST(V2JsonRequestTest, Limits) {
  struct Case {
    TensorLimits limits;
    std::string body;
    std::string message;
  };
  const std::string two = TensorJson("INT8", "[2]", "[1, 2]");
  const Case cases[] = {
      {{.max_tensors = 1}, "{\"inputs\": [" + two + ", " + two + "]}",
       "inputs has 2 tensors, at most 1 are allowed"},
      {{.max_tensors = 1},
       "{\"inputs\": [" + two + "], \"outputs\": [{\"name\": \"a\"}, {\"name\": \"b\"}]}",
       "outputs has 2 entries, at most 1 are allowed"},
      {{.max_elements = 5}, Request(TensorJson("INT8", "[2,3]", "[]")),
       "inputs[0].shape [2,3] has more than 5 elements, the limit per tensor"},
      {{}, Request(TensorJson("INT8", "[4294967296,4294967296,4294967296]", "[]")),  // overflow
       "inputs[0].shape [4294967296,4294967296,4294967296] has more than 1048576 elements, the "
       "limit per tensor"},
      {{.max_rank = 2}, Request(TensorJson("INT8", "[1,1,1]", "[1]")),
       "inputs[0].shape has rank 3, at most 2 is allowed"},
      {{.max_bytes = 15}, Request(TensorJson("FP64", "[2]", "[1, 2]")),
       "inputs[0].shape [2] of FP64 is 16 bytes, more than 15, the limit per tensor"},
      {{.max_bytes = 10}, Request(TensorJson("BYTES", "[2]", R"(["abc", "def"])")),
       "inputs[0].data is larger than 10 bytes, the limit per tensor"},
  };
  for (const Case& c : cases) {
    StatusOr<InferRequest> r = ParseInferRequest(c.body, c.limits);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().message(), c.message) << c.body;
  }
  // At the limits: fine. A zero dimension makes any shape empty.
  EXPECT_TRUE(ParseInferRequest(Request(TensorJson("INT8", "[2,2]", "[1,2,3,4]")),
                                {.max_elements = 4, .max_rank = 2, .max_bytes = 4}).ok());
  EXPECT_TRUE(ParseInferRequest(
      Request(TensorJson("INT8", "[4294967296,4294967296,0]", "[]"))).ok());
}

TEST(V2JsonRequestTest, ReadTensorPrefixesErrorsWithItsPath) {
  simdjson::dom::parser parser;
  const std::string json = R"({"name": "x", "shape": [2], "datatype": "UINT8", "data": [1, 256]})";
  simdjson::dom::element e = parser.parse(json).value();
  Tensor t;
  Status s = ReadTensor(e, "body.tensors[3]", TensorLimits{}, &t);
  EXPECT_EQ(s.message(), "body.tensors[3].data[1]: 256 is out of range for UINT8");
}

// simdjson's array::size() stops counting at 0xFFFFFF: an array one longer
// must still be caught, not written past the end of the buffer.
TEST(V2JsonRequestTest, CountsArraysPastSimdjsonsSaturatedSize) {
  constexpr size_t kSaturated = 0xFFFFFF;
  std::string json = R"({"name": "x", "shape": [16777215], "datatype": "INT8", "data": [0)";
  json.reserve(json.size() + 2 * kSaturated + 8);
  for (size_t i = 0; i < kSaturated; ++i) json += ",0";
  json += "]}";
  simdjson::dom::parser parser;  // local: its buffers go away with it
  simdjson::dom::element e = parser.parse(json).value();
  Tensor t;
  Status s = ReadTensor(e, "inputs[0]", {.max_elements = kSaturated}, &t);
  EXPECT_EQ(s.message(), "inputs[0].data: expected 16777215 elements for shape [16777215], got "
                         "16777216");
}

// ------------------------------------------------------------------ answers

// The binary tensor data extension: JSON, then each binary input's bytes in order.
TEST(V2JsonBinaryTest, InputsReadTheirBytesAfterTheJson) {
  const std::string json =
      "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [2], "
      "\"parameters\": {\"binary_data_size\": 8}},"
      " {\"name\": \"q\", \"datatype\": \"BYTES\", \"shape\": [1], \"data\": [\"hi\"]},"
      " {\"name\": \"s\", \"datatype\": \"BYTES\", \"shape\": [1], \"parameters\": {\"binary_data_size\": 6}}],"
      " \"outputs\": [{\"name\": \"a\", \"parameters\": {\"binary_data\": true}}, {\"name\": \"b\"}]}";
  const float xs[2] = {0.5f, -2.0f};
  const std::string binary = std::string(reinterpret_cast<const char*>(xs), 8) + std::string("\x02\0\0\0ok", 6);
  StatusOr<InferRequest> r = ParseInferRequest(json + binary, {}, json.size());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->inputs[0].Values<float>()[1], -2.0f);
  EXPECT_EQ(r->inputs[1].Strings()[0], "hi");
  EXPECT_EQ(r->inputs[2].Strings()[0], "ok");
  EXPECT_TRUE(r->binary_outputs.Wants("a"));
  EXPECT_FALSE(r->binary_outputs.Wants("b"));

  const auto error = [&](const std::string& body, std::optional<size_t> length) {
    StatusOr<InferRequest> bad = ParseInferRequest(body, {}, length);
    return bad.ok() ? std::string("OK") : bad.status().message();
  };
  EXPECT_EQ(error(json + binary + "xx", json.size()),
            "2 bytes of binary data follow the JSON that no input's parameters.binary_data_size claims");
  EXPECT_EQ(error(json + binary.substr(0, 10), json.size()),
            "inputs[2].parameters.binary_data_size is 6 bytes, but 2 are left after the JSON");
  EXPECT_EQ(error(json + binary, json.size() + 100),
            "Inference-Header-Content-Length is " + std::to_string(json.size() + 100) + ", more than the body's " +
                std::to_string(json.size() + binary.size()) + " bytes");
  EXPECT_EQ(error(json, std::nullopt),
            "inputs[0].parameters.binary_data_size needs the binary tensor data extension (an "
            "Inference-Header-Content-Length header)");
  const std::string short_x = "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [2], "
                              "\"parameters\": {\"binary_data_size\": 4}}]}";
  EXPECT_EQ(error(short_x + "abcd", short_x.size()), "inputs[0]: expected 8 bytes for shape [2] of FP32, got 4");
  const std::string both = "{\"inputs\": [{\"name\": \"x\", \"datatype\": \"FP32\", \"shape\": [1], "
                           "\"data\": [1], \"parameters\": {\"binary_data_size\": 4}}]}";
  EXPECT_EQ(error(both + "abcd", both.size()), "inputs[0]: give data or parameters.binary_data_size, not both");
}

TEST(V2JsonBinaryTest, BinaryOutputsFollowTheJson) {
  Tensor a;
  a.name = "a";
  a.datatype = DataType::kInt32;
  a.shape = {2};
  const int32_t values[2] = {7, -1};
  a.data.assign(reinterpret_cast<const char*>(values), 8);
  Tensor b = a;
  b.name = "b";
  InferResponse r{"m", "1", "", {a, b}, std::nullopt};
  std::string out;
  const size_t json = WriteInferResponse(r, out, BinaryOutputs{false, {"a"}});
  EXPECT_EQ(out.substr(0, json),
            "{\"model_name\":\"m\",\"model_version\":\"1\",\"outputs\":[{\"name\":\"a\",\"datatype\":\"INT32\","
            "\"shape\":[2],\"parameters\":{\"binary_data_size\":8}},{\"name\":\"b\",\"datatype\":\"INT32\","
            "\"shape\":[2],\"data\":[7,-1]}]}");
  EXPECT_EQ(out.substr(json), a.data);
  std::string plain;
  const size_t plain_json = WriteInferResponse(r, plain);
  EXPECT_EQ(plain_json, plain.size());  // no binary: all JSON
  r.expected_now = Millis(2.5);  // a TBMS worker's word on its queue, read back by a broker
  std::string with;
  WriteInferResponse(r, with);
  EXPECT_NE(with.find("\"parameters\":{\"tbms_expected_ms\":2.5}"), std::string::npos) << with;
  EXPECT_EQ(ParseInferResponse(with)->expected_now, Millis(2.5));
}

TEST(V2JsonAnswerTest, AnswersBecomeTensors) {
  struct Case {
    const char* answer;
    DataType type;
    std::vector<int64_t> shape;
    const char* data;  // as written by AppendTensorData
  };
  const Case cases[] = {
      {"0.5", DataType::kFp32, {1}, "[0.5]"},
      {"true", DataType::kBool, {1}, "[true]"},
      {"[1, 2, 3]", DataType::kInt64, {3}, "[1,2,3]"},
      {"[[1, 2], [3, 4], [5, 6]]", DataType::kFp64, {3, 2}, "[1,2,3,4,5,6]"},
      {"[[[1], [2]]]", DataType::kUint8, {1, 2, 1}, "[1,2]"},
      {"[]", DataType::kFp32, {0}, "[]"},
      {"[[], []]", DataType::kFp32, {2, 0}, "[]"},
      {" \"svm answer to: why?\" ", DataType::kBytes, {1}, "[\"svm answer to: why?\"]"},
      {"[\"a\", \"b\"]", DataType::kBytes, {2}, "[\"a\",\"b\"]"},
      {"[[\"a\"], [\"b\"]]", DataType::kBytes, {2, 1}, "[\"a\",\"b\"]"},
      // BYTES: anything else is one element holding the JSON text
      {" {\"label\": \"cat\"} ", DataType::kBytes, {1}, R"(["{\"label\": \"cat\"}"])"},
      {"0.5", DataType::kBytes, {1}, "[\"0.5\"]"},
      {"null", DataType::kBytes, {1}, "[\"null\"]"},
      {"[1, \"a\"]", DataType::kBytes, {1}, R"(["[1, \"a\"]"])"},
      {"[[\"a\"], [\"b\", \"c\"]]", DataType::kBytes, {1}, R"(["[[\"a\"], [\"b\", \"c\"]]"])"},
  };
  for (const Case& c : cases) {
    StatusOr<Tensor> t = AnswerTensor(c.answer, "out", c.type);
    ASSERT_TRUE(t.ok()) << c.answer << ": " << t.status().ToString();
    EXPECT_EQ(t->name, "out");
    EXPECT_EQ(t->datatype, c.type);
    EXPECT_EQ(t->shape, c.shape) << c.answer;
    EXPECT_EQ(Data(*t), c.data) << c.answer;
  }
}

TEST(V2JsonAnswerTest, EchoedDataRoundTrips) {
  // An identity model answers with an input's data; the output is that tensor.
  StatusOr<Tensor> in = ParseTensor(TensorJson("INT16", "[2,2]", "[[1, -2], [3, 32767]]"));
  ASSERT_TRUE(in.ok());
  StatusOr<Tensor> out = AnswerTensor("[[1, -2], [3, 32767]]", "x", DataType::kInt16);
  ASSERT_TRUE(out.ok());
  ExpectSameTensor(*in, *out);
}

TEST(V2JsonAnswerTest, AnswersThatDoNotFit) {
  struct Case {
    std::string answer;
    DataType type;
    std::string message;
  };
  // First elements that claim 2^12 elements in a 40-odd character answer.
  std::string deep = "0";
  for (int i = 0; i < 12; ++i) deep = "[" + deep + ",0]";
  const Case cases[] = {
      {"\"hi\"", DataType::kFp32, "answer must be a number (FP32), got a string"},
      {"{}", DataType::kInt32, "answer must be an integer (INT32), got an object"},
      {"1", DataType::kBool, "answer must be true or false (BOOL), got a number"},
      {"[300]", DataType::kUint8, "answer[0]: 300 is out of range for UINT8"},
      {"[[1, 2], [3]]", DataType::kFp32, "answer[1]: expected 2 elements for shape [2,2], got 1"},
      {"[1, [2]]", DataType::kInt32, "answer[1] must be an integer (INT32), got an array"},
      {"[[1], 2]", DataType::kInt32,
       "answer[1] must be an array (nested data follows shape [2,1])"},
      {deep, DataType::kInt32,
       "answer is a ragged array (its first elements say shape [2,2,2,2,2,2,2,2,2,2,2,2])"},
  };
  for (const Case& c : cases) {
    StatusOr<Tensor> t = AnswerTensor(c.answer, "out", c.type);
    ASSERT_FALSE(t.ok()) << c.answer;
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().message(), c.message) << c.answer;
  }
  StatusOr<Tensor> t = AnswerTensor("{", "out", DataType::kBytes);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message().rfind("answer: malformed JSON: ", 0), 0u);
}

}  // namespace
}  // namespace tbms
