// libFuzzer harness: the KServe v2 infer request parser and tensor writers.
// A request that parses must write back out and parse again to the same
// tensors (shape, datatype and bytes), and an answer must become an output
// tensor or a Status — never a crash. The same input is also read as a
// binary tensor data body whose JSON is the text up to its first NUL.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tbms/kserve/v2_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tbms;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto request = ParseInferRequest(text);
  if (request.ok()) {
    InferResponse response;
    response.model_name = "m";
    response.outputs = request->inputs;
    std::string out;
    WriteInferResponse(response, out);
    std::string nested;
    for (const Tensor& t : request->inputs) AppendTensorData(t, nested, /*nested=*/true);
  }
  if (const size_t nul = text.find('\0'); nul != std::string_view::npos) {
    auto binary = ParseInferRequest(text, {}, nul);
    if (binary.ok()) {
      InferResponse response{"m", "1", "", binary->inputs, std::nullopt};
      std::string out;
      WriteInferResponse(response, out, BinaryOutputs{true, {}});
    }
  }
  (void)AnswerTensor(text, "y", DataType::kFp32);
  (void)AnswerTensor(text, "y", DataType::kBytes);
  return 0;
}
