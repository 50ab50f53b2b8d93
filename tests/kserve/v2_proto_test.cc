// Conformance of the KServe v2 gRPC codec: every datatype, at the extremes
// of its range, reads the same through typed contents, through raw bytes and
// through the JSON codec (the oracle); a response written either way reads
// back; each malformed message gets its own INVALID_ARGUMENT naming the field.
#include "tbms/kserve/v2_proto.h"

#include <gtest/gtest.h>

#include "tbms/broker/limits.h"
#include "tbms/kserve/v2_json.h"

namespace tbms {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

Tensor FromJson(std::string_view datatype, std::string_view shape, std::string_view data) {
  StatusOr<InferRequest> r = ParseInferRequest("{\"inputs\": [{\"name\": \"x\", \"datatype\": \"" +
                                               std::string(datatype) + "\", \"shape\": " + std::string(shape) +
                                               ", \"data\": " + std::string(data) + "}]}");
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? r->inputs[0] : Tensor{};
}

// A request carrying `t` in typed contents (written by the response encoder,
// whose tensor messages have the same fields) or raw.
ModelInferRequest RequestOf(const Tensor& t, bool raw) {
  ModelInferResponse carrier;
  ToProto(InferResponse{"m", "1", "", {t}, std::nullopt}, raw, &carrier);
  ModelInferRequest m;
  m.set_model_name("m");
  auto* in = m.add_inputs();
  in->set_name(carrier.outputs(0).name());
  in->set_datatype(carrier.outputs(0).datatype());
  *in->mutable_shape() = carrier.outputs(0).shape();
  *in->mutable_contents() = carrier.outputs(0).contents();
  *m.mutable_raw_input_contents() = carrier.raw_output_contents();
  return m;
}

struct Case {
  const char* datatype;
  const char* data;
};
const Case kCases[] = {
    {"BOOL", "[true, false, true]"},
    {"UINT8", "[0, 1, 255]"},
    {"UINT16", "[0, 1, 65535]"},
    {"UINT32", "[0, 1, 4294967295]"},
    {"UINT64", "[0, 1, 18446744073709551615]"},
    {"INT8", "[-128, 0, 127]"},
    {"INT16", "[-32768, 0, 32767]"},
    {"INT32", "[-2147483648, 0, 2147483647]"},
    {"INT64", "[-9223372036854775808, 0, 9223372036854775807]"},
    {"FP16", "[-65504, 0.5, 6e-8]"},
    {"FP32", "[-3.4028234e38, 1.5, 1e-45]"},
    {"FP64", "[-1.7976931348623157e308, 0.1, 5e-324]"},
    {"BYTES", "[\"\", \"h\\u00e9llo\", \"a,b\"]"},
};

TEST(V2ProtoTest, EveryDatatypeReadsAsTheJsonCodecReadsIt) {
  for (const Case& c : kCases) {
    const Tensor want = FromJson(c.datatype, "[3]", c.data);
    for (bool raw : {false, true}) {
      SCOPED_TRACE(std::string(c.datatype) + (raw ? " raw" : " contents"));
      StatusOr<InferRequest> got = FromProto(RequestOf(want, raw));
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_EQ(got->inputs.size(), 1u);
      EXPECT_EQ(got->inputs[0].datatype, want.datatype);
      EXPECT_EQ(got->inputs[0].shape, want.shape);
      EXPECT_EQ(got->inputs[0].data, want.data);
    }
  }
}

TEST(V2ProtoTest, AResponseReadsBackEitherWay) {
  InferResponse r{"svm", "2", "req-7", {FromJson("FP32", "[2,2]", "[1, 2, 3, 4]"),
                                          FromJson("BYTES", "[1]", "[\"yes\"]")}, Millis(12.5)};
  r.outputs[1].name = "label";
  for (bool raw : {false, true}) {
    ModelInferResponse m;
    ToProto(r, raw, &m);
    EXPECT_EQ(m.raw_output_contents_size(), raw ? 2 : 0);
    StatusOr<InferResponse> back = FromProto(m);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(back->model_name, "svm");
    EXPECT_EQ(back->model_version, "2");
    EXPECT_EQ(back->id, "req-7");
    EXPECT_EQ(back->expected_now, Millis(12.5));  // a TBMS worker's word on its queue
    ASSERT_EQ(back->outputs.size(), 2u);
    EXPECT_EQ(back->outputs[0].data, r.outputs[0].data);
    EXPECT_EQ(back->outputs[1].Strings()[0], "yes");
  }
}

TEST(V2ProtoTest, Fp16IsSentRawEvenWhenContentsAreAskedFor) {
  ModelInferResponse m;
  ToProto(InferResponse{"m", "1", "", {FromJson("FP16", "[1]", "[1.5]")}, std::nullopt}, /*raw=*/false, &m);
  EXPECT_EQ(m.raw_output_contents_size(), 1);
}

TEST(V2ProtoTest, RequestParametersAndIdsAreRead) {
  ModelInferRequest m = RequestOf(FromJson("INT32", "[1]", "[7]"), false);
  m.set_id("abc");
  (*m.mutable_parameters())["tloc"].set_int64_param(50);
  (*m.mutable_parameters())["priority"].set_int64_param(-3);
  (*m.mutable_parameters())["temperature"].set_string_param("0.5");  // the model's: left alone
  m.add_outputs()->set_name("scores");
  StatusOr<InferRequest> r = FromProto(m);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->id, "abc");
  EXPECT_EQ(r->tloc, Millis(50));
  EXPECT_EQ(r->priority, -3);
  EXPECT_EQ(r->outputs, std::vector<std::string>{"scores"});

  // The client side writes what the server side reads.
  ModelInferRequest out;
  ToProto(*r, &out);
  StatusOr<InferRequest> again = FromProto(out);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->inputs[0].data, r->inputs[0].data);
  EXPECT_EQ(again->tloc, Millis(50));
  EXPECT_EQ(again->priority, -3);
}

// The message of FromProto's error for a request edited by `edit`.
template <typename Edit>
std::string ErrorOf(Edit edit, bool raw = false, const TensorLimits& limits = {}) {
  ModelInferRequest m = RequestOf(FromJson("INT8", "[2]", "[1, 2]"), raw);
  edit(m);
  StatusOr<InferRequest> r = FromProto(m, limits);
  if (r.ok()) return "OK";
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(V2ProtoTest, EachMalformedRequestSaysWhatIsWrong) {
  using M = ModelInferRequest;
  EXPECT_EQ(ErrorOf([](M&) {}), "OK");
  EXPECT_EQ(ErrorOf([](M& m) { m.clear_inputs(); }), "inputs must not be empty");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->set_name(""); }), "inputs[0].name must not be empty");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->set_datatype("FP8"); }).substr(0, 19), "inputs[0].datatype:");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->set_shape(0, 3); }),
            "inputs[0].contents.int_contents: expected 3 elements for shape [3], got 2");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->set_shape(0, -1); }),
            "inputs[0].shape must be an array of non-negative integers");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->mutable_contents()->set_int_contents(1, 300); }),
            "inputs[0].contents.int_contents[1]: 300 is out of range for INT8");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1); }),
            "inputs[0].contents.fp32_contents cannot hold INT8 (use int_contents)");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->set_datatype("FP16"); }),
            "inputs[0]: FP16 has no contents field; send its data raw (raw_input_contents)");
  EXPECT_EQ(ErrorOf([](M& m) { *m.add_inputs() = m.inputs(0); }),
            "inputs[1].name 'x' is already used by inputs[0]");
  EXPECT_EQ(ErrorOf([](M& m) { (*m.mutable_parameters())["tloc"].set_string_param("50"); }),
            "parameters.tloc must be an int64_param in [1, 600000]");
  EXPECT_EQ(ErrorOf([](M& m) { (*m.mutable_parameters())["tloc"].set_int64_param(0); }),
            "parameters.tloc must be an int64_param in [1, 600000]");
  EXPECT_EQ(ErrorOf([](M& m) { m.add_outputs(); }), "outputs[0].name must not be empty");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->add_shape(1); m.mutable_inputs(0)->add_shape(1); },
                    false, {.max_rank = 2}),
            "inputs[0].shape has rank 3, at most 2 is allowed");
  EXPECT_EQ(ErrorOf([](M& m) { *m.add_inputs() = m.inputs(0); }, false, {.max_tensors = 1}),
            "inputs has 2 tensors, at most 1 are allowed");
}

TEST(V2ProtoTest, EachMalformedRawRequestSaysWhatIsWrong) {
  using M = ModelInferRequest;
  EXPECT_EQ(ErrorOf([](M&) {}, true), "OK");
  EXPECT_EQ(ErrorOf([](M& m) { m.set_raw_input_contents(0, "\x01"); }, true),
            "inputs[0]: expected 2 bytes for shape [2] of INT8, got 1");
  EXPECT_EQ(ErrorOf([](M& m) { m.add_raw_input_contents("zz"); }, true),
            "raw_input_contents has 2 entries for 1 inputs: give one per tensor, or none");
  EXPECT_EQ(ErrorOf([](M& m) { m.mutable_inputs(0)->mutable_contents()->add_int_contents(1); }, true),
            "inputs[0].contents must be empty when raw_input_contents is used");
  EXPECT_EQ(ErrorOf([](M& m) { m.set_raw_input_contents(0, std::string(100, 'x')); }, true, {.max_bytes = 64}),
            "inputs[0]: raw data of 100 bytes is more than 64, the limit per tensor");
  EXPECT_EQ(ErrorOf([](M& m) {
              m.mutable_inputs(0)->set_datatype("BYTES");
              m.set_raw_input_contents(0, std::string("\x05\0\0\0abc", 7));
            }, true),
            "inputs[0]: BYTES element 0 is truncated (each is a 4-byte little-endian length, then the bytes)");
  EXPECT_EQ(ErrorOf([](M& m) {
              m.mutable_inputs(0)->set_datatype("BYTES");
              m.set_raw_input_contents(0, std::string("\x01\0\0\0a", 5));
            }, true),
            "inputs[0]: expected 2 BYTES elements for shape [2], got 1");
}

}  // namespace
}  // namespace tbms
