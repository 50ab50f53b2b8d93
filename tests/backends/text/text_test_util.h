// What the text model tests share: temp folders and file helpers, ways to
// corrupt a model file, a suite fixture that trains one model for all its
// tests, the toy three-topic data set, and batch checks that hold for every
// model. Header-only; thread-compatible.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tbms/backends/text/text_model.h"

namespace tbms::text {

// ---- Files ----

// A fresh folder under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() : path_(Unique()) { std::filesystem::create_directories(path_); }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  static std::filesystem::path Unique() {
    static std::atomic<int> next{0};
    return std::filesystem::temp_directory_path() /
           ("tbms_text_test_" + std::to_string(getpid()) + "_" + std::to_string(next++));
  }
  std::filesystem::path path_;
};

inline std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline void WriteAll(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

// ---- Corrupting a model file's text ----

using Corruption = std::function<std::string(const std::string&)>;

// Replaces line `n` (from 0) of `text`.
inline std::string WithLine(const std::string& text, int n, const std::string& line) {
  std::istringstream in(text);
  std::string out, l;
  for (int i = 0; std::getline(in, l); ++i) out += (i == n ? line : l) + "\n";
  return out;
}

inline Corruption SetLine(int n, const std::string& line) {
  return [=](const std::string& text) { return WithLine(text, n, line); };
}

// Cuts the text at the start of its last line.
inline std::string DropLastLine(const std::string& t) { return t.substr(0, t.rfind('\n', t.size() - 2) + 1); }

// Cuts the text inside its last line, leaving it without its '\n'.
inline std::string CutMidLine(const std::string& t) { return t.substr(0, t.size() - 2); }

inline std::string EmptyText(const std::string&) { return {}; }

// ---- Loading ----

// The loaded model, or nullptr after a test failure that shows why.
inline std::unique_ptr<TextModel> ExpectLoaded(StatusOr<std::unique_ptr<TextModel>> model) {
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? std::move(*model) : nullptr;
}

// Expects a load refused with FAILED_PRECONDITION, the message naming `file`
// and holding `part`.
inline void ExpectRefused(const StatusOr<std::unique_ptr<TextModel>>& model,
                          const std::filesystem::path& file, const std::string& part = "") {
  ASSERT_FALSE(model.ok()) << file;
  EXPECT_EQ(model.status().code(), StatusCode::kFailedPrecondition) << model.status().ToString();
  const std::string& message = model.status().message();
  EXPECT_NE(message.find(file.string()), std::string::npos) << message;
  EXPECT_NE(message.find(part), std::string::npos) << message;
}

// A suite whose tests share one model, trained once (it takes a while) by the
// suite's SetUpTestSuite into NewTrainingDir(). `LoadFn` is the model's loader.
template <StatusOr<std::unique_ptr<TextModel>> (*LoadFn)(const std::filesystem::path&)>
class TrainedOnceTest : public ::testing::Test {
 protected:
  static void TearDownTestSuite() { dir_.reset(); }
  // A fresh suite folder; returns Trained(), where the model goes.
  static std::filesystem::path NewTrainingDir() {
    dir_ = std::make_unique<TempDir>();
    return Trained();
  }
  static std::filesystem::path Dir() { return dir_->path(); }
  static std::filesystem::path Trained() { return Dir() / "model"; }
  // A private copy of the trained model, to damage.
  static std::filesystem::path Copy(const std::string& name) {
    const std::filesystem::path to = Dir() / name;
    std::filesystem::copy(Trained(), to, std::filesystem::copy_options::recursive);
    return to;
  }
  static std::unique_ptr<TextModel> Load(const std::filesystem::path& dir) {
    return ExpectLoaded(LoadFn(dir));
  }

 private:
  static inline std::unique_ptr<TempDir> dir_;
};

// ---- The toy three-topic data set ----

// ~30 distinct short texts per topic (animal, vehicle, food); each topic has
// its own vocabulary. A text's detail is "<noun> #<n>" then `detail_tail`.
inline std::vector<Example> ToyExamples(uint32_t seed, const std::string& detail_tail = "") {
  struct Topic {
    std::string label;
    std::vector<std::string> nouns, verbs, places;
  };
  const std::vector<Topic> topics = {
      {"animal",
       {"dog", "cat", "horse", "cow", "sheep", "goat", "pig", "rabbit", "wolf", "fox", "deer"},
       {"barks", "purrs", "sleeps", "grazes", "hunts", "growls", "hides"},
       {"barn", "forest", "meadow", "den", "farm"}},
      {"vehicle",
       {"car", "truck", "bus", "train", "bicycle", "motorcycle", "van", "tractor", "taxi", "tram"},
       {"drives", "brakes", "parks", "accelerates", "honks", "stops", "turns"},
       {"road", "highway", "garage", "street", "station"}},
      {"food",
       {"bread", "cheese", "apple", "banana", "rice", "pasta", "soup", "salad", "pizza", "cake"},
       {"tastes", "bakes", "boils", "simmers", "ripens", "melts", "cools"},
       {"kitchen", "oven", "plate", "bowl", "pantry"}},
  };
  std::mt19937 rng(seed);
  std::vector<Example> out;
  for (const Topic& t : topics) {
    std::set<std::string> seen;
    while (seen.size() < 30) {
      const std::string& noun = t.nouns[rng() % t.nouns.size()];
      const std::string& verb = t.verbs[rng() % t.verbs.size()];
      const std::string& place = t.places[rng() % t.places.size()];
      std::string text = "The " + noun + " " + verb + " in the " + place + ".";
      if (!seen.insert(text).second) continue;
      out.push_back({text, t.label, noun + " #" + std::to_string(seen.size()) + detail_tail});
    }
  }
  return out;
}

struct HeldOut {
  std::string text, label;
};

// Questions in the toy topics' words, none of them a training text.
inline const std::vector<HeldOut> kHeldOut = {
    {"a hungry wolf growls in the forest", "animal"},
    {"my old cat sleeps in the barn", "animal"},
    {"the red bus stops at the station", "vehicle"},
    {"a taxi drives down the highway", "vehicle"},
    {"fresh bread and cheese in the kitchen", "food"},
    {"hot soup simmers in a bowl", "food"},
};

inline std::vector<std::string> HeldOutQuestions() {
  std::vector<std::string> questions;
  for (const HeldOut& h : kHeldOut) questions.push_back(h.text);
  return questions;
}

// ---- Batches ----

inline Batch MakeBatch(const std::vector<std::string>& questions) {
  Batch batch;
  for (const std::string& q : questions) batch.items.push_back(std::make_shared<const Inputs>(q));
  return batch;
}

// Expects every question answered in one batch exactly as when asked alone.
inline void ExpectBatchEqualsSingles(TextModel& model, const std::vector<std::string>& questions) {
  const std::vector<StatusOr<Answer>> together = model.Process(MakeBatch(questions));
  ASSERT_EQ(together.size(), questions.size());
  for (size_t i = 0; i < questions.size(); ++i) {
    const std::vector<StatusOr<Answer>> alone = model.Process(MakeBatch({questions[i]}));
    ASSERT_EQ(alone.size(), 1u);
    ASSERT_TRUE(together[i].ok() && alone[0].ok());
    EXPECT_EQ(*together[i], *alone[0]) << questions[i];
  }
}

// Expects the empty questions of one batch refused with INVALID_ARGUMENT and
// the others answered.
inline void ExpectEmptyQuestionsRefused(TextModel& model, const std::vector<std::string>& questions) {
  const std::vector<StatusOr<Answer>> answers = model.Process(MakeBatch(questions));
  ASSERT_EQ(answers.size(), questions.size());
  for (size_t i = 0; i < questions.size(); ++i) {
    if (questions[i].empty()) {
      EXPECT_EQ(answers[i].status().code(), StatusCode::kInvalidArgument) << "question " << i;
    } else {
      EXPECT_TRUE(answers[i].ok()) << questions[i];
    }
  }
}

// Expects two models to answer `batch` alike.
inline void ExpectSameAnswers(TextModel& a, TextModel& b, const Batch& batch) {
  const std::vector<StatusOr<Answer>> x = a.Process(batch);
  const std::vector<StatusOr<Answer>> y = b.Process(batch);
  ASSERT_EQ(x.size(), y.size());
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_TRUE(x[i].ok() && y[i].ok());
    EXPECT_EQ(*x[i], *y[i]);
  }
}

// Expects four threads, each answering `batch` 20 times at once, to get the
// answers of a call made alone.
inline void ExpectConcurrentCallsAgree(TextModel& model, const Batch& batch) {
  const std::vector<StatusOr<Answer>> expected = model.Process(batch);
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        const std::vector<StatusOr<Answer>> got = model.Process(batch);
        for (size_t i = 0; i < got.size(); ++i) {
          if (!got[i].ok() || *got[i] != *expected[i]) ++mismatches[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int m : mismatches) EXPECT_EQ(m, 0);
}

}  // namespace tbms::text
