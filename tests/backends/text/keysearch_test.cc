// Keysearch (BM25 over a Xapian index): learns a toy three-topic problem,
// loads back to the same answers, answers a batch as it answers its items
// one by one (also from several threads at once), and rejects a missing or
// corrupt index with FAILED_PRECONDITION naming it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tbms/backends/text/text_model.h"

#include "text_test_util.h"

namespace tbms::text {
namespace {

constexpr uint32_t kToySeed = 7;

class KeysearchTest : public TrainedOnceTest<LoadKeysearch> {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(TrainKeysearch(ToyExamples(kToySeed), NewTrainingDir()).ok()); }
};

TEST_F(KeysearchTest, LearnsToyTopics) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  std::vector<std::string_view> texts;
  for (const HeldOut& h : kHeldOut) texts.push_back(h.text);
  const auto predictions = model->Predict(texts, 3);
  ASSERT_EQ(predictions.size(), kHeldOut.size());
  for (size_t i = 0; i < kHeldOut.size(); ++i) {
    ASSERT_FALSE(predictions[i].empty()) << kHeldOut[i].text;
    EXPECT_EQ(predictions[i][0].label, kHeldOut[i].label) << kHeldOut[i].text;
    EXPECT_GT(predictions[i][0].score, 0.0);
    EXPECT_LE(predictions[i][0].score, 1.0);
    EXPECT_FALSE(predictions[i][0].detail.empty());
    double total = 0;
    for (const Prediction& p : predictions[i]) total += p.score;
    EXPECT_LE(total, 1.0 + 1e-9);
  }
}

TEST_F(KeysearchTest, TrainingTextFindsItself) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  for (const Example& e : ToyExamples(kToySeed)) {
    const auto predictions = model->Predict({e.text}, 3);
    ASSERT_FALSE(predictions[0].empty()) << e.text;
    EXPECT_EQ(predictions[0][0].label, e.label) << e.text;
    EXPECT_EQ(predictions[0][0].detail, e.detail) << e.text;
  }
}

// Keysearch answers item by item and checks before each whether its try is
// still on: an item whose try is over is skipped, the others answered.
TEST_F(KeysearchTest, SkipsAnItemWhoseTryIsOver) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->items_per_predict(), 1u);
  Batch batch = MakeBatch({"the dog barks", "hot soup simmers", "a cat sleeps"});
  batch.items[1]->over.Set();
  const auto answers = model->Process(batch);
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_TRUE(answers[0].ok());
  ASSERT_FALSE(answers[1].ok());
  EXPECT_TRUE(IsSkippedTryOver(answers[1].status()));
  EXPECT_TRUE(answers[2].ok());
}

// A sequential model whose first item's try ends the second's while it runs
// (as the broker does, on the core, when a faster model answers): the
// second is not computed, the third is.
class EndsTheNextTry final : public TextModel {
 public:
  explicit EndsTheNextTry(const Batch& batch) : batch_(batch) {}
  size_t items_per_predict() const override { return 1; }
  std::vector<std::vector<Prediction>> Predict(const std::vector<std::string_view>& texts, int) const override {
    predicted.emplace_back(texts.at(0));
    if (predicted.size() == 1) batch_.items[1]->over.Set();
    return {{Prediction{"label", 1.0, ""}}};
  }
  mutable std::vector<std::string> predicted;

 private:
  const Batch& batch_;
};

TEST(TextModelTest, ATryEndingMidBatchSkipsItsItem) {
  Batch batch = MakeBatch({"first", "second", "third"});
  EndsTheNextTry model(batch);
  const auto answers = model.Process(batch);
  EXPECT_EQ(model.predicted, std::vector<std::string>({"first", "third"}));
  EXPECT_TRUE(answers[0].ok());
  EXPECT_TRUE(IsSkippedTryOver(answers[1].status()));
  EXPECT_TRUE(answers[2].ok());
}

TEST_F(KeysearchTest, KLimitsTheLabels) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  // "in the" matches every document: all three labels vote.
  EXPECT_EQ(model->Predict({"the dog in the kitchen on the road"}, 3)[0].size(), 3u);
  EXPECT_EQ(model->Predict({"the dog in the kitchen on the road"}, 1)[0].size(), 1u);
}

TEST_F(KeysearchTest, LoadRoundTripGivesTheSameAnswers) {
  auto first = Load(Trained());
  auto second = Load(Trained());
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  ExpectSameAnswers(*first, *second, MakeBatch(HeldOutQuestions()));
}

TEST_F(KeysearchTest, BatchAnswersEqualSingleAnswers) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  ExpectBatchEqualsSingles(*model, HeldOutQuestions());
}

TEST_F(KeysearchTest, ConcurrentCallsGiveTheSameAnswers) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  ExpectConcurrentCallsAgree(*model, MakeBatch(HeldOutQuestions()));
}

TEST_F(KeysearchTest, EmptyQuestionIsInvalidArgument) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  ExpectEmptyQuestionsRefused(*model, {"", "the dog barks"});
}

TEST_F(KeysearchTest, QuestionMatchingNothingHasNoAnswer) {
  auto model = Load(Trained());
  ASSERT_NE(model, nullptr);
  EXPECT_TRUE(model->Predict({"zyxxy quux"}, 3)[0].empty());
  // Query syntax in a question is just words.
  EXPECT_FALSE(model->Predict({"dog* AND NOT \"cat"}, 3)[0].empty());
}

TEST_F(KeysearchTest, MissingIndexIsFailedPrecondition) {
  const auto dir = Copy("missing");
  std::filesystem::remove_all(dir / "index");
  ExpectRefused(LoadKeysearch(dir), dir / "index");
}

TEST_F(KeysearchTest, CorruptIndexIsFailedPrecondition) {
  const auto dir = Copy("corrupt");
  for (const auto& entry : std::filesystem::directory_iterator(dir / "index")) {
    std::ofstream(entry.path(), std::ios::trunc) << "not a xapian table";
  }
  ExpectRefused(LoadKeysearch(dir), dir / "index");
}

TEST_F(KeysearchTest, EmptyIndexFolderIsFailedPrecondition) {
  const auto dir = Dir() / "empty";
  std::filesystem::create_directories(dir / "index");
  ExpectRefused(LoadKeysearch(dir), dir / "index");
}

TEST_F(KeysearchTest, TrainingRejectsNoExamplesAndTabbedLabels) {
  EXPECT_EQ(TrainKeysearch({}, Dir() / "none").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainKeysearch({{"text", "a\tb", ""}}, Dir() / "tab").code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tbms::text
