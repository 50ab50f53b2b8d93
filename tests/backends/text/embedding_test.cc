// Embedding (fastText sentence vectors, nearest neighbours by one GEMM):
// finds a training text itself, mostly learns a toy three-topic problem
// (fastText is noisy on a corpus this small), loads back to the same
// answers, answers a batch exactly as it answers its items one by one (also
// from several threads at once), and rejects missing or corrupt artifacts
// with FAILED_PRECONDITION naming the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include "tbms/backends/matrix_product.h"
#include "tbms/backends/text/text_model.h"

#include "text_test_util.h"

namespace tbms::text {
namespace {

namespace fs = std::filesystem;

constexpr uint32_t kToySeed = 11;
constexpr char kDetailTail[] = "\tline\nbreak\\";  // the characters labels.txt escapes

class EmbeddingTest : public TrainedOnceTest<LoadEmbedding> {
 protected:
  static void SetUpTestSuite() {
    std::vector<Example> examples;  // each text three times: enough for fastText's minCount 2
    for (int rep = 0; rep < 3; ++rep) {
      for (const Example& e : ToyExamples(kToySeed, kDetailTail)) examples.push_back(e);
    }
    const Status s = TrainEmbedding(examples, NewTrainingDir());
    ASSERT_TRUE(s.ok()) << s.ToString();
  }
};

TEST_F(EmbeddingTest, WritesTheArtifactsAndNoTrainingFile) {
  EXPECT_TRUE(fs::exists(Trained() / "embedding.bin"));
  EXPECT_EQ(fs::file_size(Trained() / "vectors.f32"), 24u + 270u * 64u * 4u);
  EXPECT_TRUE(fs::exists(Trained() / "labels.txt"));
  EXPECT_FALSE(fs::exists(Trained() / "train.txt.tmp"));
}

// Exact whatever fastText learned: a training text's vector is its own row
// (cosine 1), so its label's nearest example — whose detail is shown — is itself.
TEST_F(EmbeddingTest, TrainingTextFindsItself) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  for (const Example& e : ToyExamples(kToySeed, kDetailTail)) {
    const auto predictions = model->Predict({e.text}, 3);
    ASSERT_FALSE(predictions[0].empty()) << e.text;
    bool found = false;
    for (const Prediction& p : predictions[0]) {
      if (p.label != e.label) continue;
      found = true;
      EXPECT_EQ(p.detail, e.detail) << e.text;
    }
    EXPECT_TRUE(found) << e.text;
  }
}

TEST_F(EmbeddingTest, LearnsToyTopicsMostly) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  std::vector<std::string_view> texts;
  for (const HeldOut& h : kHeldOut) texts.push_back(h.text);
  const auto predictions = model->Predict(texts, 3);
  ASSERT_EQ(predictions.size(), kHeldOut.size());
  size_t right = 0;
  for (size_t i = 0; i < kHeldOut.size(); ++i) {
    ASSERT_FALSE(predictions[i].empty()) << kHeldOut[i].text;
    if (predictions[i][0].label == kHeldOut[i].label) ++right;
    double total = 0;
    for (const Prediction& p : predictions[i]) {
      EXPECT_GT(p.score, 0.0);
      total += p.score;
    }
    EXPECT_NEAR(total, 1.0, 1e-9);  // k = 3 covers every label that voted
    EXPECT_LE(predictions[i][0].score, 1.0);
  }
  EXPECT_GE(right * 3, kHeldOut.size() * 2) << right << " of " << kHeldOut.size();
}

TEST_F(EmbeddingTest, LoadRoundTripGivesTheSameAnswers) {
  auto first = Load(Trained());
  auto second = Load(Trained());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ExpectSameAnswers(*first, *second, MakeBatch(HeldOutQuestions()));
}

TEST_F(EmbeddingTest, BatchAnswersEqualSingleAnswers) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  std::vector<std::string> questions = HeldOutQuestions();
  for (const Example& e : ToyExamples(kToySeed, kDetailTail)) questions.push_back(e.text);  // a batch of 96
  ExpectBatchEqualsSingles(*model, questions);
}

TEST_F(EmbeddingTest, ConcurrentCallsGiveTheSameAnswers) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  ExpectConcurrentCallsAgree(*model, MakeBatch(HeldOutQuestions()));
}

// On a GPU the product runs with cuBLAS and the answers are the CPU's;
// where there is none, loading onto one fails and says why.
TEST_F(EmbeddingTest, OnAGpuItAnswersAsOnTheCpu) {
  std::string why;
  if (CudaDevices(&why) == 0) {
    auto refused = LoadEmbeddingOn(Trained(), "gpu:0");
    EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_EQ(refused.status().message().rfind("embedding on gpu:0: gpu:0: ", 0), 0u) << refused.status().message();
    GTEST_SKIP() << "GPU test skipped: " << why;
  }
  auto cpu = Load(Trained());
  auto gpu = LoadEmbeddingOn(Trained(), "gpu");
  ASSERT_NE(cpu, nullptr);
  ASSERT_TRUE(gpu.ok()) << gpu.status().message();
  std::vector<std::string_view> texts;
  for (const HeldOut& h : kHeldOut) texts.push_back(h.text);
  const auto want = cpu->Predict(texts, 3), got = (*gpu)->Predict(texts, 3);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {  // the same labels, scores within float tolerance
    ASSERT_EQ(got[i].size(), want[i].size()) << texts[i];
    for (size_t j = 0; j < want[i].size(); ++j) {
      EXPECT_EQ(got[i][j].label, want[i][j].label) << texts[i];
      EXPECT_NEAR(got[i][j].score, want[i][j].score, 1e-4) << texts[i];
    }
  }
}

// A GPU that fails its product: the batch is answered from the CPU, the
// same answers, and the failure is handed once to the executor, which drains
// the device.
class FailingProduct : public MatrixProduct {
 public:
  Status Multiply(const float*, int, float*) const override { return Unavailable("cudaErrorLaunchFailure"); }
  std::string device() const override { return "gpu:3"; }
};

TEST_F(EmbeddingTest, AFailedGpuProductIsAnsweredOnTheCpuAndReported) {
  auto cpu = Load(Trained());
  ASSERT_NE(cpu, nullptr);
  auto gpu = LoadEmbeddingWith(Trained(), [](const float*, int, int) -> StatusOr<std::unique_ptr<MatrixProduct>> {
    return std::unique_ptr<MatrixProduct>(std::make_unique<FailingProduct>());
  });
  ASSERT_TRUE(gpu.ok()) << gpu.status().message();
  EXPECT_TRUE(cpu->TakeDeviceFailure().ok());
  ExpectSameAnswers(*cpu, **gpu, MakeBatch(HeldOutQuestions()));
  const Status failed = (*gpu)->TakeDeviceFailure();
  EXPECT_EQ(failed.code(), StatusCode::kUnavailable);
  EXPECT_EQ(failed.message(), "gpu:3: cudaErrorLaunchFailure");
  EXPECT_TRUE((*gpu)->TakeDeviceFailure().ok());  // once
}

TEST_F(EmbeddingTest, EmptyQuestionIsInvalidArgument) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  ExpectEmptyQuestionsRefused(*model, {"", "the dog barks"});
}

TEST_F(EmbeddingTest, DamagedArtifactsAreRejected) {
  const auto remove = [](const fs::path& p) { fs::remove(p); };
  const auto cut_4_bytes = [](const fs::path& p) { fs::resize_file(p, fs::file_size(p) - 4); };
  const auto halve = [](const fs::path& p) { fs::resize_file(p, fs::file_size(p) / 2); };
  const auto overwrite = [](const std::string& text) {
    return [text](const fs::path& p) { WriteAll(p, text); };
  };
  const struct {
    std::string name;
    std::string file;                             // the one damaged
    std::function<void(const fs::path&)> damage;  // of the file at this path
  } cases[] = {
      {"missing vectors", "vectors.f32", remove},
      {"truncated vectors", "vectors.f32", cut_4_bytes},
      {"garbage vectors", "vectors.f32", overwrite("this is not a matrix of floats at all")},
      {"labels of the wrong length", "labels.txt", overwrite("animal\tdog\n")},
      {"missing model", "embedding.bin", remove},
      {"garbage model", "embedding.bin", overwrite("garbage, not a fastText model")},
      {"truncated model", "embedding.bin", halve},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path dir = Copy(c.name);
    c.damage(dir / c.file);
    ExpectRefused(LoadEmbedding(dir), dir / c.file);
  }
}

TEST_F(EmbeddingTest, TrainingRejectsBadInput) {
  EXPECT_EQ(TrainEmbedding({}, Dir() / "none").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainEmbedding({{"text", "a\tb", ""}}, Dir() / "tab").code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tbms::text
