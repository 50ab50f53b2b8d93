// Naive Bayes: posteriors match a hand computation, a loaded model scores
// exactly like its training counts, batches equal single items, and missing
// or corrupt model files are refused with the file's name.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>

#include "tbms/backends/text/text_model.h"

#include "text_test_util.h"

namespace tbms::text {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<TextModel> TrainAndLoad(const std::vector<Example>& examples, const fs::path& dir) {
  EXPECT_TRUE(TrainBayes(examples, dir).ok());
  return ExpectLoaded(LoadBayes(dir));
}

// Three documents, two classes:
//   "a a b" -> x, "a" -> x, "b c" -> y.  Vocabulary {a, b, c}, V = 3.
//   x: 4 tokens (a 3, b 1, c 0); y: 2 tokens (a 0, b 1, c 1).
//   P(t | x) = (n + 1) / (4 + 3): a 4/7, b 2/7, c 1/7
//   P(t | y) = (n + 1) / (2 + 3): a 1/5, b 2/5, c 2/5
//   priors: x 2/3, y 1/3.
const std::vector<Example> kTiny = {{"a a b", "x", ""}, {"b c", "y", ""}, {"a", "x", ""}};

struct HandCase {
  std::string text;
  std::string best;
  double posterior;  // of `best`
};

TEST(BayesTest, PosteriorsMatchHandComputation) {
  const std::vector<HandCase> cases = {
      // x: 2/3 * 2/7 * 1/7 = 4/147; y: 1/3 * 2/5 * 2/5 = 4/75; P(y) = 147 / (147 + 75).
      {"b c", "y", 147.0 / 222.0},
      // x: 2/3 * 4/7 = 8/21; y: 1/3 * 1/5 = 1/15; P(x) = 40 / (40 + 7).
      {"a", "x", 40.0 / 47.0},
      // Tokens a, a: x: 2/3 * 16/49 = 32/147; y: 1/3 * 1/25 = 1/75; P(x) = 2400 / 2547.
      {"A, a!", "x", 2400.0 / 2547.0},
      // Unknown tokens are ignored: the priors.
      {"zzz qqq", "x", 2.0 / 3.0},
      {"", "x", 2.0 / 3.0},
      // Unknown tokens do not dilute known ones.
      {"zzz b c qqq", "y", 147.0 / 222.0},
  };
  TempDir dir;
  auto model = TrainAndLoad(kTiny, dir.path());
  ASSERT_NE(model, nullptr);
  for (const HandCase& c : cases) {
    SCOPED_TRACE("text: '" + c.text + "'");
    const auto top = model->Predict({c.text}, 5);
    ASSERT_EQ(top.size(), 1u);
    ASSERT_EQ(top[0].size(), 2u);
    EXPECT_EQ(top[0][0].label, c.best);
    EXPECT_NEAR(top[0][0].score, c.posterior, 1e-9);
    EXPECT_NEAR(top[0][1].score, 1 - c.posterior, 1e-9);
  }
}

TEST(BayesTest, KLimitsTheAnswers) {
  TempDir dir;
  auto model = TrainAndLoad(kTiny, dir.path());
  ASSERT_NE(model, nullptr);
  for (const auto& [k, want] :
       std::vector<std::pair<int, size_t>>{{0, 0}, {1, 1}, {2, 2}, {10, 2}, {-1, 0}}) {
    const auto top = model->Predict({"a b", "c"}, k);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_EQ(top[0].size(), want) << "k=" << k;
    EXPECT_EQ(top[1].size(), want) << "k=" << k;
  }
}

// Random documents over a small vocabulary, with uneven class sizes.
std::vector<Example> RandomExamples(int n, int classes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Example> examples;
  for (int i = 0; i < n; ++i) {
    const bool common = rng() % 2 == 0;  // half the texts go to the first two classes
    const int c = static_cast<int>(rng() % (common ? 2 : classes));
    std::string text;
    for (int w = 1 + rng() % 8; w > 0; --w) {
      text += "w" + std::to_string((c * 7 + rng() % 30) % 60) + " ";
    }
    examples.push_back({text, "class " + std::to_string(c), ""});
  }
  return examples;
}

// Naive Bayes computed directly from counts, to check the loaded model against.
std::map<std::string, double> Reference(const std::vector<Example>& examples, const std::string& text) {
  std::map<std::string, double> docs, tokens;
  std::map<std::pair<std::string, std::string>, double> count;
  std::map<std::string, int> vocab;
  for (const Example& e : examples) {
    ++docs[e.label];
    for (const std::string& t : Tokenize(e.text)) {
      ++tokens[e.label], ++count[{e.label, t}], ++vocab[t];
    }
  }
  std::map<std::string, double> log_joint;
  double max = -INFINITY;
  for (const auto& [label, n] : docs) {
    double s = std::log(n / static_cast<double>(examples.size()));
    for (const std::string& t : Tokenize(text)) {
      if (!vocab.contains(t)) continue;
      s += std::log((count[{label, t}] + 1) / (tokens[label] + static_cast<double>(vocab.size())));
    }
    log_joint[label] = s;
    max = std::max(max, s);
  }
  double sum = 0;
  for (auto& [label, s] : log_joint) sum += (s = std::exp(s - max));
  for (auto& [label, s] : log_joint) s /= sum;
  return log_joint;
}

TEST(BayesTest, LoadedModelScoresLikeItsTrainingCounts) {
  const std::vector<Example> examples = RandomExamples(300, 6, 7);
  TempDir dir;
  auto model = TrainAndLoad(examples, dir.path());
  ASSERT_NE(model, nullptr);
  const std::vector<std::string> texts = {"w1 w2 w3", "w40 w41 w41 w59", "w7", "nothing known", "W13 w13"};
  for (const std::string& text : texts) {
    SCOPED_TRACE(text);
    const std::map<std::string, double> want = Reference(examples, text);
    const auto top = model->Predict({text}, 100);
    ASSERT_EQ(top[0].size(), want.size());
    for (size_t i = 0; i < top[0].size(); ++i) {
      EXPECT_NEAR(top[0][i].score, want.at(top[0][i].label), 1e-12) << top[0][i].label;
      if (i > 0) {
        EXPECT_GE(top[0][i - 1].score, top[0][i].score);
      }
    }
  }
}

TEST(BayesTest, TrainingIsDeterministic) {
  const std::vector<Example> examples = RandomExamples(200, 5, 11);
  TempDir a, b;
  ASSERT_TRUE(TrainBayes(examples, a.path()).ok());
  ASSERT_TRUE(TrainBayes(examples, b.path()).ok());
  EXPECT_EQ(ReadAll(a.path() / "bayes.model"), ReadAll(b.path() / "bayes.model"));
}

TEST(BayesTest, BatchEqualsSingleItems) {
  TempDir dir;
  auto model = TrainAndLoad(RandomExamples(300, 6, 3), dir.path());
  ASSERT_NE(model, nullptr);
  ExpectBatchEqualsSingles(*model, {"w1 w2", "w30 w31 w32", "unknown words", "w5", "W59 w0 w0"});
}

TEST(BayesTest, EmptyQuestionIsInvalidArgument) {
  TempDir dir;
  auto model = TrainAndLoad(kTiny, dir.path());
  ASSERT_NE(model, nullptr);
  const std::vector<StatusOr<Answer>> answers = model->Process(MakeBatch({"a", "", "b c"}));
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_TRUE(answers[0].ok());
  EXPECT_EQ(answers[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(answers[2].ok());
  EXPECT_NE(answers[2]->find("\"answer\":\"y\""), std::string::npos) << *answers[2];
}

TEST(BayesTest, TrainingRefusesBadExamples) {
  TempDir dir;
  EXPECT_EQ(TrainBayes({}, dir.path()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainBayes({{"a", "", ""}}, dir.path()).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(TrainBayes({{"a", "two\nlines", ""}}, dir.path()).code(), StatusCode::kInvalidArgument);
}

TEST(BayesTest, LabelsKeepTheirSpaces) {
  TempDir dir;
  auto model = TrainAndLoad({{"sun", " sunny day ", ""}, {"rain", "wet", ""}}, dir.path());
  ASSERT_NE(model, nullptr);
  EXPECT_EQ(model->Predict({"sun"}, 1)[0][0].label, " sunny day ");
}

struct CorruptCase {
  std::string name;
  Corruption corrupt;   // of the good file's text
  std::string message;  // part of the expected error
};

constexpr char kGarbage[] = "\177ELF\1\2\0 binary\n";  // with a NUL byte

// The model of kTiny, for reference:
//   line 0 "tbms-bayes 1", 1 "classes 2", 2-3 classes, 4 "vocabulary 3", 5-7 tokens a, b, c.
TEST(BayesTest, CorruptModelFilesAreRefused) {
  const std::vector<CorruptCase> cases = {
      {"empty", EmptyText, "not a bayes model"},
      {"wrong magic", SetLine(0, "tbms-bayes 2"), "not a bayes model"},
      {"garbage", [](const std::string&) { return std::string(kGarbage, sizeof kGarbage - 1); },
       "not a bayes model"},
      {"cut mid-line", CutMidLine, "truncated"},
      {"cut at a line", DropLastLine, "truncated"},
      {"no classes", SetLine(1, "classes 0"), "line 2"},
      {"nan prior", SetLine(2, "nan -1 x"), "line 3"},
      {"positive log", SetLine(3, "-1 0.5 y"), "line 4"},
      {"no label", SetLine(3, "-1 -2"), "line 4"},
      {"huge vocabulary", SetLine(4, "vocabulary 99999999999"), "line 5"},
      {"class out of range", SetLine(5, "a 1 2 -0.5"), "line 6"},
      {"classes not ascending", SetLine(5, "a 2 1 -1 0 -1"), "line 6"},
      {"missing pair", SetLine(5, "a 2 0 -0.5"), "line 6"},
      {"extra pair", SetLine(5, "a 1 0 -0.5 1 -0.5"), "line 6"},
      {"inf log p", SetLine(6, "b 1 0 -inf"), "line 7"},
      {"duplicate token", SetLine(7, "a 1 0 -1"), "appears twice"},
      {"trailing text", [](const std::string& t) { return t + "d 1 0 -1\n"; }, "line 9"},
  };
  TempDir dir;
  ASSERT_TRUE(TrainBayes(kTiny, dir.path()).ok());
  const fs::path file = dir.path() / "bayes.model";
  const std::string good = ReadAll(file);
  for (const CorruptCase& c : cases) {
    SCOPED_TRACE(c.name);
    WriteAll(file, c.corrupt(good));
    ExpectRefused(LoadBayes(dir.path()), file, c.message);
  }
  WriteAll(file, good);
  EXPECT_TRUE(LoadBayes(dir.path()).ok());
}

TEST(BayesTest, MissingModelIsRefused) {
  TempDir dir;
  for (const fs::path& where : {dir.path(), dir.path() / "no_such_version"}) {
    ExpectRefused(LoadBayes(where), where / "bayes.model");
  }
}

}  // namespace
}  // namespace tbms::text
