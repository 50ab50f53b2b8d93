// Linear classifier over TF-IDF (liblinear): learns separable toy problems,
// reloads to the same answers, batches equal single items, reads a model in
// liblinear's own format, and refuses missing or inconsistent artifacts with
// the offending file's name.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <random>
#include <thread>

#include "tbms/backends/text/text_model.h"

#include "text_test_util.h"

namespace tbms::text {
namespace {

namespace fs = std::filesystem;

std::unique_ptr<TextModel> Load(const fs::path& dir) { return ExpectLoaded(LoadSvm(dir)); }

// `per_class` texts per topic, each three words from the topic's pool plus a
// shared filler word.
std::vector<Example> TopicExamples(
    const std::vector<std::pair<std::string, std::vector<std::string>>>& topics, int per_class,
    uint32_t seed) {
  const std::vector<std::string> fillers = {"the", "a", "my", "this", "some"};
  std::mt19937 rng(seed);
  std::vector<Example> examples;
  for (int i = 0; i < per_class; ++i) {
    for (const auto& [label, words] : topics) {
      std::string text = fillers[rng() % fillers.size()];
      for (int w = 0; w < 3; ++w) text += " " + words[rng() % words.size()];
      examples.push_back({text, label, ""});
    }
  }
  return examples;
}

const std::vector<std::string> kPets = {"cat", "dog", "pet", "kitten", "puppy", "fur", "paw", "bark"};
const std::vector<std::string> kCars = {"car",    "road",  "drive",   "wheel",
                                        "engine", "truck", "highway", "fuel"};
const std::vector<std::string> kFood = {"bread", "soup", "cook", "bake", "salt", "dinner", "oven", "spoon"};

struct ToyCase {
  std::string name;
  std::vector<std::pair<std::string, std::vector<std::string>>> topics;
  std::vector<std::pair<std::string, std::string>> held_out;  // text, label
};

TEST(SvmTest, LearnsSeparableToyProblems) {
  const std::vector<ToyCase> cases = {
      {"two classes",
       {{"pets", kPets}, {"cars", kCars}},
       {{"My dog has soft fur!", "pets"},
        {"a kitten and a puppy", "pets"},
        {"drive the truck on the highway", "cars"},
        {"ENGINE needs fuel", "cars"},
        {"bark at the wheel, bark, bark", "pets"}}},
      {"three classes",
       {{"pets", kPets}, {"cars", kCars}, {"food", kFood}},
       {{"feed the cat", "pets"},
        {"paw prints on the road road road", "cars"},
        {"bake bread in the oven", "food"},
        {"soup with salt", "food"},
        {"truck wheel", "cars"}}},
  };
  for (const ToyCase& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir dir;
    ASSERT_TRUE(TrainSvm(TopicExamples(c.topics, 20, 1), dir.path()).ok());
    auto model = Load(dir.path());
    ASSERT_NE(model, nullptr);
    for (const auto& [text, label] : c.held_out) {
      const auto top = model->Predict({text}, 5);
      ASSERT_EQ(top[0].size(), c.topics.size()) << text;
      EXPECT_EQ(top[0][0].label, label) << text;
      double sum = 0;
      for (const Prediction& p : top[0]) {
        EXPECT_GE(p.score, 0) << text;
        EXPECT_LE(p.score, 1) << text;
        sum += p.score;
      }
      EXPECT_NEAR(sum, 1, 1e-9) << text;
      EXPECT_GT(top[0][0].score, top[0][1].score) << text;
    }
  }
}

TEST(SvmTest, PrunesTokensSeenInOneText) {
  std::vector<Example> examples = TopicExamples({{"pets", kPets}, {"cars", kCars}}, 20, 2);
  examples.push_back({"zebra cat", "pets", ""});
  TempDir dir;
  ASSERT_TRUE(TrainSvm(examples, dir.path()).ok());
  const std::string features = ReadAll(dir.path() / "features.txt");
  EXPECT_EQ(features.find("\nzebra "), std::string::npos);
  EXPECT_NE(features.find("\ncat "), std::string::npos);
}

TEST(SvmTest, ReloadAndRetrainGiveTheSameAnswers) {
  const std::vector<Example> examples =
      TopicExamples({{"pets", kPets}, {"cars", kCars}, {"food", kFood}}, 20, 3);
  TempDir a, b;
  ASSERT_TRUE(TrainSvm(examples, a.path()).ok());
  ASSERT_TRUE(TrainSvm(examples, b.path()).ok());
  for (const char* file : {"labels.txt", "features.txt", "svm.model"}) {
    EXPECT_EQ(ReadAll(a.path() / file), ReadAll(b.path() / file)) << file;
  }
  auto first = Load(a.path());
  auto second = Load(a.path());
  ASSERT_TRUE(first && second);
  const std::vector<std::string_view> texts = {"cat on the road", "oven", "", "unknown", "dog dog car"};
  const auto x = first->Predict(texts, 3);
  const auto y = second->Predict(texts, 3);
  ASSERT_EQ(x.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(x[i].size(), y[i].size());
    for (size_t j = 0; j < x[i].size(); ++j) {
      EXPECT_EQ(x[i][j].label, y[i][j].label);
      EXPECT_EQ(x[i][j].score, y[i][j].score);
    }
  }
}

TEST(SvmTest, BatchEqualsSingleItems) {
  TempDir dir;
  ASSERT_TRUE(
      TrainSvm(TopicExamples({{"pets", kPets}, {"cars", kCars}, {"food", kFood}}, 20, 4), dir.path()).ok());
  auto model = Load(dir.path());
  ASSERT_NE(model, nullptr);
  ExpectBatchEqualsSingles(*model, {"cat", "drive to dinner", "nothing known", "paw paw fuel", "SOUP"});
}

TEST(SvmTest, ConcurrentPredictsAgree) {
  TempDir dir;
  ASSERT_TRUE(
      TrainSvm(TopicExamples({{"pets", kPets}, {"cars", kCars}, {"food", kFood}}, 20, 5), dir.path()).ok());
  auto model = Load(dir.path());
  ASSERT_NE(model, nullptr);
  const std::vector<std::string_view> texts = {"cat", "road", "bread", "cat road bread"};
  const auto want = model->Predict(texts, 3);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int r = 0; r < 200; ++r) {
        const auto got = model->Predict(texts, 3);
        for (size_t i = 0; i < texts.size(); ++i) {
          if (got[i][0].label != want[i][0].label || got[i][0].score != want[i][0].score) ++mismatches;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(SvmTest, EmptyQuestionIsInvalidArgument) {
  TempDir dir;
  ASSERT_TRUE(TrainSvm(TopicExamples({{"pets", kPets}, {"cars", kCars}}, 20, 6), dir.path()).ok());
  auto model = Load(dir.path());
  ASSERT_NE(model, nullptr);
  const std::vector<StatusOr<Answer>> answers = model->Process(MakeBatch({"dog", "", "car"}));
  ASSERT_EQ(answers.size(), 3u);
  ASSERT_TRUE(answers[0].ok());
  EXPECT_NE(answers[0]->find("\"answer\":\"pets\""), std::string::npos) << *answers[0];
  EXPECT_EQ(answers[1].status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(answers[2].ok());
}

TEST(SvmTest, TrainingRefusesBadExamples) {
  TempDir dir;
  const std::vector<std::vector<Example>> bad = {
      {},
      {{"cat dog", "pets", ""}, {"dog cat", "pets", ""}},  // one label
      {{"cat dog", "pets", ""}, {"car road", "", ""}},     // empty label
      {{"cat", "pets", ""}, {"car", "cars", ""}},          // no token in two texts
  };
  for (const std::vector<Example>& examples : bad) {
    EXPECT_EQ(TrainSvm(examples, dir.path()).code(), StatusCode::kInvalidArgument);
  }
}

// A model as liblinear's `train -s 1 -B 1` would write it for two features:
// w(cat) = 2, w(car) = -2, no bias weight. A non-probabilistic solver, so
// scores are a softmax of (d, -d): for "cat", d = 2 and P(pets) = 1 / (1 + e^-4).
TEST(SvmTest, ReadsAModelTrainedWithLiblinearTools) {
  TempDir dir;
  WriteAll(dir.path() / "labels.txt", "tbms-svm-labels 1 2\ncars\npets\n");
  WriteAll(dir.path() / "features.txt", "tbms-svm-features 1 2\ncar 1\ncat 1\n");
  WriteAll(dir.path() / "svm.model",
           "solver_type L2R_L2LOSS_SVC_DUAL\nnr_class 2\nlabel 1 0\nnr_feature 2\nbias 1\nw\n-2 \n2 \n0 \n");
  auto model = Load(dir.path());
  ASSERT_NE(model, nullptr);
  const auto top = model->Predict({"cat", "car car", "both cat and car"}, 2);
  EXPECT_EQ(top[0][0].label, "pets");
  EXPECT_NEAR(top[0][0].score, 1 / (1 + std::exp(-4.0)), 1e-12);
  EXPECT_EQ(top[1][0].label, "cars");
  EXPECT_NEAR(top[1][0].score, 1 / (1 + std::exp(-4.0)), 1e-12);
  EXPECT_NEAR(top[2][0].score, 0.5, 1e-12);  // d = 0: a tie
}

// One token fewer, with a consistent header: features.txt alone looks fine.
std::string OneFeatureFewer(const std::string& t) {
  const std::string body = DropLastLine(t.substr(t.find('\n') + 1));
  const int count = static_cast<int>(std::count(body.begin(), body.end(), '\n'));
  return "tbms-svm-features 1 " + std::to_string(count) + "\n" + body;
}

struct CorruptCase {
  std::string name;
  std::string file;           // the one corrupted
  Corruption corrupt;         // of its good text
  std::string message;        // part of the expected error
  std::string blamed = file;  // named in the error
};

constexpr char kGarbage[] = "\177ELF\1\2 binary\n";

TEST(SvmTest, CorruptArtifactsAreRefused) {
  const Corruption garbage = [](const std::string&) { return std::string(kGarbage); };
  const Corruption half = [](const std::string& t) {
    size_t n = t.size() / 2;
    while (t[n - 1] == '\n') --n;  // stop mid-line
    return t.substr(0, n);
  };
  const Corruption one_label_more = [](const std::string& t) {
    return WithLine(t, 0, "tbms-svm-labels 1 4") + "more\n";
  };
  const std::vector<CorruptCase> cases = {
      {"empty labels", "labels.txt", EmptyText, "expected the header"},
      {"labels magic", "labels.txt", SetLine(0, "tbms-svm-labels 2 3"), "header"},
      {"labels cut", "labels.txt", DropLastLine, "truncated"},
      {"labels cut mid-line", "labels.txt", CutMidLine, "truncated"},
      {"empty label", "labels.txt", SetLine(1, ""), "line 2"},
      {"one label more", "labels.txt", one_label_more, "nr_class 4", "svm.model"},
      {"features garbage", "features.txt", garbage, "expected the header"},
      {"features cut", "features.txt", half, "truncated"},
      {"features nan idf", "features.txt", SetLine(2, "cat nan"), "line 3"},
      {"features duplicate", "features.txt", SetLine(3, "bake 2"), "line 4: token 'bake' appears twice"},
      {"features count disagrees with svm.model", "features.txt", OneFeatureFewer, "features.txt",
       "svm.model"},
      {"model empty", "svm.model", EmptyText, "solver_type"},
      {"model garbage", "svm.model", garbage, "solver_type"},
      {"model regression solver", "svm.model", SetLine(0, "solver_type L2R_L2LOSS_SVR"), "solver_type"},
      {"model cut mid-line", "svm.model", half, "truncated"},
      {"model cut at a line", "svm.model", DropLastLine, "weight rows"},
      {"model huge nr_class", "svm.model", SetLine(1, "nr_class 2000000000"), "nr_class 3"},
      {"model duplicate label", "svm.model", SetLine(2, "label 0 0 1"), "distinct"},
      {"model extra header field", "svm.model", SetLine(4, "bias 1 nan"), "line 5"},
      {"model huge nr_feature", "svm.model", SetLine(3, "nr_feature 2000000000"), "nr_feature"},
      {"model nan weight", "svm.model", SetLine(6, "nan 0 0 "), "line 7"},
      {"model short row", "svm.model", SetLine(6, "0 0 "), "line 7"},
      {"model extra row", "svm.model", [](const std::string& t) { return t + "0 0 0 \n"; }, "weight rows"},
  };
  TempDir dir;
  ASSERT_TRUE(
      TrainSvm(TopicExamples({{"pets", kPets}, {"cars", kCars}, {"food", kFood}}, 20, 7), dir.path()).ok());
  for (const CorruptCase& c : cases) {
    SCOPED_TRACE(c.name);
    const fs::path file = dir.path() / c.file;
    const std::string good = ReadAll(file);
    WriteAll(file, c.corrupt(good));
    StatusOr<std::unique_ptr<TextModel>> model = LoadSvm(dir.path());
    WriteAll(file, good);
    ExpectRefused(model, dir.path() / c.blamed, c.message);
  }
  EXPECT_TRUE(LoadSvm(dir.path()).ok());
}

TEST(SvmTest, MissingArtifactsAreRefused) {
  TempDir dir;
  ASSERT_TRUE(TrainSvm(TopicExamples({{"pets", kPets}, {"cars", kCars}}, 20, 8), dir.path()).ok());
  for (const char* file : {"labels.txt", "features.txt", "svm.model"}) {
    SCOPED_TRACE(file);
    const std::string good = ReadAll(dir.path() / file);
    fs::remove(dir.path() / file);
    StatusOr<std::unique_ptr<TextModel>> model = LoadSvm(dir.path());
    WriteAll(dir.path() / file, good);
    ExpectRefused(model, dir.path() / file);
  }
}

}  // namespace
}  // namespace tbms::text
