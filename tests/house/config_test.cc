// The model house: what each valid house becomes, and the exact message
// (file:line:column) of every error the scan can report.
#include "tbms/house/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>

#include "tbms/broker/limits.h"

namespace tbms {
namespace {

namespace fs = std::filesystem;

// Relative path -> contents; a path ending in '/' is an empty folder.
using Files = std::map<std::string, std::string>;

// A house in a fresh temporary folder, removed at the end of the test.
class TempHouse {
 public:
  explicit TempHouse(const Files& files) : dir_(UniqueDir()) {
    fs::create_directories(dir_);
    for (const auto& [path, text] : files) Write(path, text);
  }
  ~TempHouse() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  void Write(const std::string& path, std::string_view text) const {
    const fs::path full = dir_ / path;
    if (path.ends_with('/')) {
      fs::create_directories(full);
      return;
    }
    fs::create_directories(full.parent_path());
    std::ofstream(full, std::ios::binary).write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  const fs::path& dir() const { return dir_; }

  // The messages, with the house's folder shown as "house".
  std::vector<std::string> Errors(const HouseScan& scan) const {
    std::vector<std::string> out;
    for (const HouseError& e : scan.errors) {
      std::string m = e.message;
      for (size_t at; (at = m.find(dir_.string())) != std::string::npos;) m.replace(at, dir_.string().size(), "house");
      out.push_back(m);
    }
    return out;
  }

 private:
  static fs::path UniqueDir() {
    static std::atomic<int> next{0};
    return fs::temp_directory_path() /
           ("tbms_house_test_" + std::to_string(getpid()) + "_" + std::to_string(next++));
  }

  const fs::path dir_;
};

// One valid simulated model, svm, with version 1.
Files Base() {
  return {{"svm/model.toml", "backend = \"simulated\"\nest = 25\n"},
          {"svm/1/simulated.toml", "base_ms = 22.5\nper_item_ms = 2.5\n"}};
}

Files With(Files files, const Files& more) {
  for (const auto& [path, text] : more) files[path] = text;
  return files;
}

const ModelConfig* Find(const HouseConfig& house, std::string_view name) {
  for (const ModelConfig& m : house.models) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

std::vector<int64_t> Versions(const ModelConfig& m) {
  std::vector<int64_t> out;
  for (const VersionConfig& v : m.versions) out.push_back(v.number);
  return out;
}

// ---------------------------------------------------------------------------
// Valid houses

// The demo house of the talk, written out in full.
Files Demo() {
  Files f;
  const std::pair<const char*, const char*> models[] = {
      {"embedding", "35"}, {"svm", "25"}, {"bayes", "15"}, {"keysearch", "5"}};
  for (const auto& [name, est] : models) {
    f[std::string(name) + "/model.toml"] = "backend = \"simulated\"\nest = " + std::string(est) + "\n";
    f[std::string(name) + "/1/simulated.toml"] = "base_ms = 1\n";
  }
  f["embedding/model.toml"] +=
      "lag_target_ms = 40\nreplicas = 2\ndevice = \"gpu:1\"\nlabels = { team = \"search\" }\n"
      "[batching]\nmax_batch_size = 16\npreferred_batch_sizes = [4, 8]\n"
      "max_queue_delay_ms = 2.5\nmax_queue_size = 100\n";
  f["embedding/1/simulated.toml"] =
      "base_ms = 31.5\nper_item_ms = 3.5\njitter = \"lognormal\"\njitter_spread = 0.2\n"
      "straggler_rate = 0.01\nstraggler_factor = 4\nfailure_rate = 0.02\nhang_rate = 0.03\n"
      "hang_ms = 500\nseed = 7\necho = true\n";
  f["embedding/README.md"] = "files next to model.toml are fine\n";
  f["mix1/model.toml"] = "backend = \"mix\"\nmembers = [\"embedding\", \"svm\"]\naggregator = \"max\"\n";
  f["mix2/model.toml"] = "backend = \"mix\"\nmembers = [\"bayes\", \"keysearch\"]\naggregator = \"avg\"\n";
  f["instances.toml"] =
      "[instances.nianjianQA.tasks.qa]\nmodels = [\"embedding\", \"svm\", \"mix2\", \"keysearch\"]\n"
      "tloc = 50\ncrossRequest = 1\ncrossLag = 10\npriority = -3\nhedge = \"expected\"\n\n[instances.shop]\nmax_concurrent = 8\nmax_rps = 2.5\n";
  return f;
}

TEST(HouseTest, AnAdaptiveModelActsOnItsLagTarget) {
  TempHouse house({{"svm/model.toml", "backend = \"simulated\"\nest = 25\nlag_target_ms = 40\n"
                                      "[batching]\nmax_batch_size = 16\nadaptive = true\n"},
                   {"svm/1/simulated.toml", "base_ms = 1\n"}});
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  const ModelConfig& svm = *Find(scan.config, "svm");
  EXPECT_TRUE(svm.adaptive_batching);
  EXPECT_EQ(svm.lag_target, Millis(40));
  EXPECT_TRUE(scan.warnings.empty());  // lag_target_ms is acted on: no warning
}

TEST(HouseTest, ReadsTheDemoHouse) {
  TempHouse house(Demo());
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  const HouseConfig& c = scan.config;
  EXPECT_EQ(c.dir, house.dir());
  std::vector<std::string> names;
  for (const ModelConfig& m : c.models) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"bayes", "embedding", "keysearch", "mix1", "mix2", "svm"}));

  const ModelConfig& e = *Find(c, "embedding");
  EXPECT_EQ(e.dir, house.dir() / "embedding");
  EXPECT_EQ(e.backend, "simulated");
  EXPECT_EQ(e.est, Millis(35));
  EXPECT_EQ(e.lag_target, Millis(40));
  EXPECT_EQ(e.replicas, 2);
  EXPECT_EQ(e.device, "gpu:1");
  EXPECT_EQ(e.labels, (std::map<std::string, std::string>{{"team", "search"}}));
  EXPECT_EQ(e.batching.model, "embedding");
  EXPECT_EQ(e.batching.max_batch_size, 16);
  EXPECT_EQ(e.batching.preferred_batch_sizes, (std::vector<int>{4, 8}));
  EXPECT_EQ(e.batching.max_queue_delay, Millis(2.5));
  EXPECT_EQ(e.batching.max_queue_size, 100u);
  EXPECT_NE(e.fingerprint, 0u);
  ASSERT_EQ(e.versions.size(), 1u);
  const VersionConfig& v = e.versions[0];
  EXPECT_EQ(v.number, 1);
  EXPECT_EQ(v.dir, house.dir() / "embedding" / "1");
  EXPECT_NE(v.fingerprint, 0u);
  const SimulatedExecutor::Options& s = v.simulated;
  EXPECT_EQ(s.model, "embedding");
  EXPECT_EQ(s.replicas, 2);
  EXPECT_EQ(s.base, Millis(31.5));
  EXPECT_EQ(s.per_item, Millis(3.5));
  EXPECT_EQ(s.jitter, SimulatedExecutor::Jitter::kLognormal);
  EXPECT_DOUBLE_EQ(s.jitter_spread, 0.2);
  EXPECT_DOUBLE_EQ(s.straggler_rate, 0.01);
  EXPECT_DOUBLE_EQ(s.straggler_factor, 4);
  EXPECT_DOUBLE_EQ(s.failure_rate, 0.02);
  EXPECT_DOUBLE_EQ(s.hang_rate, 0.03);
  EXPECT_EQ(s.hang_time, Millis(500));
  EXPECT_EQ(s.seed, 7u);
  EXPECT_TRUE(s.echo);

  const ModelConfig& mix = *Find(c, "mix2");
  EXPECT_EQ(mix.backend, kMixBackend);  // backend = "mix" in model.toml
  EXPECT_TRUE(mix.is_mix());
  EXPECT_FALSE(Find(c, "svm")->is_mix());
  EXPECT_EQ(mix.members, (std::vector<std::string>{"bayes", "keysearch"}));
  EXPECT_EQ(mix.aggregator, Aggregator::kAvg);
  EXPECT_TRUE(mix.versions.empty());
  EXPECT_EQ(mix.est, Duration(0));  // the broker derives it from the members

  ASSERT_EQ(c.instances.size(), 2u);
  EXPECT_EQ(c.instances[0].name, "nianjianQA");
  EXPECT_TRUE(c.instances[1].tasks.empty());
  EXPECT_EQ(c.instances[1].max_concurrent, 8);  // quotas
  EXPECT_EQ(c.instances[1].max_rps, 2.5);
  EXPECT_EQ(c.instances[0].max_concurrent, 0);  // none
  const TaskConfig& qa = c.instances[0].tasks.at("qa");
  EXPECT_EQ(qa.name, "qa");
  EXPECT_EQ(qa.models, (std::vector<std::string>{"embedding", "svm", "mix2", "keysearch"}));
  EXPECT_EQ(qa.tloc, Millis(50));
  EXPECT_EQ(qa.cross_request, 1);
  EXPECT_EQ(qa.cross_lag, Millis(10));
  EXPECT_EQ(qa.priority, -3);
  EXPECT_EQ(qa.hedge, Hedge::kExpected);
}

// A key accepted but not acted on: lag_target_ms without [batching]
// adaptive, and a GPU device for a backend with no GPU path. A warning each,
// naming the model and the key where it is written (docs/house.md). A model
// without them, and a model in error, has none.
TEST(HouseTest, WarnsOfKeysNotActedOnYet) {
  TempHouse house(With(Demo(), {{"bayes/model.toml", "backend = \"simulated\"\nest = 15\ndevice = \"cpu\"\n"
                                                     "batchsize = 1\n"},
                                {"svm/model.toml", "backend = \"svm\"\nest = 25\ndevice = \"gpu\"\n"}}));
  for (const char* f : {"svm.model", "features.txt", "labels.txt"}) house.Write(std::string("svm/1/") + f, "x");
  fs::remove(house.dir() / "svm/1/simulated.toml");
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(scan.errors.size(), 3u);  // bayes, and the mix and the task that name it
  std::vector<std::string> got;
  for (const HouseWarning& w : scan.warnings) {
    std::string m = w.message;
    m.replace(m.find(house.dir().string()), house.dir().string().size(), "house");
    got.push_back(w.model + " " + w.key + " " + m);
  }
  EXPECT_EQ(got, (std::vector<std::string>{
                     "embedding lag_target_ms house/embedding/model.toml:3:17: model 'embedding': lag_target_ms "
                     "is not acted on by the server yet, only by tbms tune (its default --lag-ms) (see docs/house.md)",
                     "svm device house/svm/model.toml:3:10: model 'svm': device 'gpu' is a GPU, but svm has no GPU "
                     "path: its replicas run on the CPU (the device's share and occupancy still count them; see "
                     "docs/house.md)",
                 }));
}

// `instances`, replicas' old name, still sets the replicas, with a warning
// where it is written (docs/house.md, "Deprecated keys").
TEST(HouseTest, AcceptsTheDeprecatedInstancesKeyWithAWarning) {
  TempHouse house(With(Base(), {{"svm/model.toml", "backend = \"simulated\"\nest = 25\ninstances = 3\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  EXPECT_EQ(Find(scan.config, "svm")->replicas, 3);
  EXPECT_EQ(scan.config.models[0].versions.at(0).simulated.replicas, 3);
  ASSERT_EQ(scan.warnings.size(), 1u);
  EXPECT_EQ(scan.warnings[0].model, "svm");
  EXPECT_EQ(scan.warnings[0].key, "instances");
  EXPECT_EQ(scan.warnings[0].message, (house.dir() / "svm/model.toml").string() +
                                          ":3:13: model 'svm': instances is deprecated, use replicas (see docs/house.md)");
}

// A task may set what a try may (tbms/broker/limits.h), and no more: the
// error rows of HouseErrorTest.Instances are one past these.

TEST(HouseTest, TaskBoundsAreTheBrokersLimits) {
  auto number = [](double v) { return std::to_string(static_cast<int64_t>(v)); };
  TempHouse house(With(Base(), {{"instances.toml",
                                 "[instances.a.tasks.qa]\nmodels = [\"svm\"]\ntloc = " + number(limits::kMaxTlocMs) +
                                     "\ncrossRequest = " + std::to_string(limits::kMaxCrossRequest) +
                                     "\ncrossLag = " + number(limits::kMaxCrossLagMs) +
                                     "\npriority = " + std::to_string(-limits::kMaxPriority) + "\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  const TaskConfig& qa = scan.config.instances.at(0).tasks.at("qa");
  EXPECT_EQ(qa.tloc, limits::kMaxTloc);
  EXPECT_EQ(qa.cross_request, limits::kMaxCrossRequest);
  EXPECT_EQ(qa.cross_lag, limits::kMaxCrossLag);
  EXPECT_EQ(qa.priority, -limits::kMaxPriority);
}

TEST(HouseTest, Defaults) {
  TempHouse house(Base());
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  EXPECT_TRUE(scan.config.instances.empty());  // no instances.toml
  const ModelConfig& m = *Find(scan.config, "svm");
  EXPECT_EQ(m.lag_target, Duration(0));
  EXPECT_EQ(m.replicas, 1);
  EXPECT_EQ(m.device, "cpu");
  EXPECT_TRUE(m.labels.empty());
  EXPECT_EQ(m.batching.model, "svm");
  EXPECT_EQ(m.batching.max_batch_size, Batcher::Options{}.max_batch_size);
  ASSERT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.inputs[0].name, "question");
  EXPECT_EQ(m.inputs[0].datatype, DataType::kBytes);
  EXPECT_EQ(m.inputs[0].shape, std::vector<int64_t>{1});
  ASSERT_EQ(m.outputs.size(), 1u);
  EXPECT_EQ(m.outputs[0].name, "answer");
  EXPECT_EQ(m.version_policy.kind, VersionPolicy::Kind::kLatest);
  EXPECT_TRUE(m.weights.empty());
  const SimulatedExecutor::Options& s = m.versions.at(0).simulated;
  EXPECT_EQ(s.jitter, SimulatedExecutor::Jitter::kNone);
  EXPECT_EQ(s.hang_time, SimulatedExecutor::Options{}.hang_time);
  EXPECT_FALSE(s.echo);
}

TEST(HouseTest, TensorSpecs) {
  TempHouse house(With(Base(), {{"svm/model.toml",
                                 "backend = \"simulated\"\nest = 25\n"
                                 "[[inputs]]\nname = \"x\"\ndatatype = \"FP32\"\nshape = [-1, 3]\n"
                                 "[[inputs]]\nname = \"mask\"\ndatatype = \"BOOL\"\nshape = []\n"
                                 "[[outputs]]\nname = \"y\"\ndatatype = \"INT64\"\nshape = [1]\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  const ModelConfig& m = *Find(scan.config, "svm");
  ASSERT_EQ(m.inputs.size(), 2u);
  EXPECT_EQ(m.inputs[0].datatype, DataType::kFp32);
  EXPECT_EQ(m.inputs[0].shape, (std::vector<int64_t>{-1, 3}));
  EXPECT_EQ(m.inputs[1].name, "mask");
  EXPECT_TRUE(m.inputs[1].shape.empty());
  ASSERT_EQ(m.outputs.size(), 1u);
  EXPECT_EQ(m.outputs[0].datatype, DataType::kInt64);
}

TEST(HouseTest, VersionPolicies) {
  struct Case {
    const char* policy;
    std::vector<int64_t> served;
  };
  const Case cases[] = {
      {"", {10}},  // the default: the latest one (10 > 2: numeric, not text order)
      {"[version_policy]\nlatest = 2\n", {2, 10}},
      {"[version_policy]\nlatest = 9\n", {1, 2, 10}},  // fewer exist: all of them
      {"[version_policy]\nall = true\n", {1, 2, 10}},
      {"[version_policy]\nspecific = [10, 1]\n", {1, 10}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.policy);
    Files files = With(Base(), {{"svm/model.toml", "backend = \"simulated\"\nest = 25\n" + std::string(c.policy)}});
    for (const char* v : {"2", "10"}) files["svm/" + std::string(v) + "/simulated.toml"] = "base_ms = 1\n";
    TempHouse house(files);
    HouseScan scan = ScanHouse(house.dir());
    ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
    EXPECT_EQ(Versions(*Find(scan.config, "svm")), c.served);
  }
}

TEST(HouseTest, Weights) {
  TempHouse house(With(Base(), {{"svm/model.toml",
                                 "backend = \"simulated\"\nest = 25\n"
                                 "[version_policy]\nall = true\n[weights]\n1 = 90\n2 = 10\n"},
                                {"svm/2/simulated.toml", "base_ms = 1\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  const ModelConfig& m = *Find(scan.config, "svm");
  EXPECT_EQ(m.weights, (std::map<int64_t, int>{{1, 90}, {2, 10}}));
  EXPECT_EQ(m.version_policy.kind, VersionPolicy::Kind::kAll);
}

TEST(HouseTest, NestedMixes) {
  TempHouse house(With(Base(), {{"bayes/model.toml", "backend = \"simulated\"\nest = 15\n"},
                                {"bayes/1/simulated.toml", "base_ms = 1\n"},
                                {"inner/model.toml", "backend = \"mix\"\nmembers = [\"svm\", \"bayes\"]\n"},
                                {"outer/model.toml",
                                 "backend = \"mix\"\nmembers = [\"inner\", \"svm\"]\naggregator = \"vote\"\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  EXPECT_EQ(Find(scan.config, "inner")->aggregator, Aggregator::kMax);  // the default
  EXPECT_EQ(Find(scan.config, "outer")->aggregator, Aggregator::kVote);
  EXPECT_EQ(Find(scan.config, "outer")->members, (std::vector<std::string>{"inner", "svm"}));
}

TEST(HouseTest, IgnoresHiddenFoldersAndLooseFiles) {
  TempHouse house(With(Base(), {{".git/config", "x"},
                                {"README.md", "# my house\n"},
                                {"svm/.cache/", ""},
                                {"svm/notes.txt", "x"}}));
  HouseScan scan = ScanHouse(house.dir());
  EXPECT_EQ(house.Errors(scan), std::vector<std::string>{});
  EXPECT_EQ(scan.config.models.size(), 1u);
}

TEST(HouseTest, FingerprintsFollowTheFiles) {
  TempHouse house(Base());
  const HouseScan before = ScanHouse(house.dir());
  const ModelConfig& m0 = before.config.models.at(0);
  EXPECT_EQ(ScanHouse(house.dir()).config.models.at(0).fingerprint, m0.fingerprint);  // stable

  house.Write("svm/1/weights.bin", "new artifact");
  const ModelConfig m1 = ScanHouse(house.dir()).config.models.at(0);
  EXPECT_EQ(m1.fingerprint, m0.fingerprint);
  EXPECT_NE(m1.versions.at(0).fingerprint, m0.versions.at(0).fingerprint);

  house.Write("svm/model.toml", "backend = \"simulated\"\nest = 26\n");
  EXPECT_NE(ScanHouse(house.dir()).config.models.at(0).fingerprint, m0.fingerprint);
}

TEST(HouseTest, SymlinkLoopsEnd) {
  TempHouse house(Base());
  fs::create_directory_symlink("..", house.dir() / "svm/1/up");
  fs::create_directory_symlink(house.dir() / "svm", house.dir() / "alias");  // a linked model
  HouseScan scan = ScanHouse(house.dir());
  EXPECT_EQ(house.Errors(scan), std::vector<std::string>{});
  EXPECT_EQ(scan.config.models.size(), 2u);
}

TEST(HouseTest, LoadHouseIsAllOrNothing) {
  TempHouse good(Base());
  auto ok = LoadHouse(good.dir());
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->models.size(), 1u);

  TempHouse bad(With(Base(), {{"svm/model.toml", "backend = \"simulated\"\n"},
                              {"instances.toml", "x = 1\n"}}));
  auto no = LoadHouse(bad.dir());
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.status().code(), StatusCode::kInvalidArgument);
  const std::string d = bad.dir().string();
  EXPECT_EQ(no.status().message(),
            d + "/svm/model.toml: missing key 'est' in model.toml\n" + d +
                "/instances.toml:1:1: unknown key 'x' in instances.toml (expected admin, instances)");
}

TEST(HouseTest, TheRepositorysDemoHouseIsValid) {
  const fs::path demo = fs::path(__FILE__).parent_path().parent_path().parent_path() / "house/demo";
  if (!fs::exists(demo)) GTEST_SKIP() << demo << " not found";
  ::setenv("TBMS_ADMIN_KEY", "admin-secret-0123456789", 1);  // its keys come from the environment
  ::setenv("TBMS_NIANJIANQA_KEY", "instance-secret-0123456789", 1);
  auto house = LoadHouse(demo);
  ASSERT_TRUE(house.ok()) << house.status().message();
  EXPECT_EQ(house->models.size(), 6u);
  EXPECT_EQ(house->instances.at(0).tasks.at("qa").models,
            (std::vector<std::string>{"embedding", "svm", "bayes", "keysearch"}));
}

// ---------------------------------------------------------------------------
// Errors: one row per message. Each row's files go over Base().

struct ErrorCase {
  const char* what;
  Files files;
  std::vector<std::string> errors;
  HouseLimits limits = {};
};

void ExpectErrors(const std::vector<ErrorCase>& cases) {
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.what);
    TempHouse house(With(Base(), c.files));
    EXPECT_EQ(house.Errors(ScanHouse(house.dir(), c.limits)), c.errors);
  }
}

std::string Svm(std::string_view more) { return "backend = \"simulated\"\nest = 25\n" + std::string(more); }

constexpr const char* kModelKeys =
    "backend, est, lag_target_ms, replicas, device, labels, batching, limits, version_policy, weights, "
    "inputs, outputs, members, aggregator, remote, instance_group, warmup";

TEST(HouseErrorTest, ModelToml) {
  const std::string m = "house/svm/model.toml";
  ExpectErrors({
      {"unknown key", {{"svm/model.toml", Svm("batchsize = 8\n")}},
       {m + ":3:1: unknown key 'batchsize' in model.toml (expected " + kModelKeys + ")"}},
      {"unknown limit", {{"svm/model.toml", Svm("[limits]\nmax_words = 8\n")}},
       {m + ":4:1: unknown key 'max_words' in [limits] (expected max_question_bytes, max_terms)"}},
      {"limit out of range", {{"svm/model.toml", Svm("[limits]\nmax_terms = 0\n")}},
       {m + ":4:13: 'max_terms' must be in [1, 100000], not 0"}},
      {"missing backend", {{"svm/model.toml", "est = 25\n"}},
       {m + ": missing key 'backend' in model.toml"}},
      {"unknown backend", {{"svm/model.toml", "backend = \"onnx\"\nest = 25\n"}},
       {m + ":1:11: unknown backend 'onnx' (expected simulated, keysearch, bayes, svm, embedding, kserve or mix)"}},
      {"backend not a string", {{"svm/model.toml", "backend = 1\nest = 25\n"}},
       {m + ":1:11: 'backend' must be a string, not an integer"}},
      {"missing est", {{"svm/model.toml", "backend = \"simulated\"\n"}},
       {m + ": missing key 'est' in model.toml"}},
      {"est out of range", {{"svm/model.toml", "backend = \"simulated\"\nest = 700000\n"}},
       {m + ":2:7: 'est' must be in [0, 600000], not 700000"}},
      {"est negative", {{"svm/model.toml", "backend = \"simulated\"\nest = -0.5\n"}},
       {m + ":2:7: 'est' must be in [0, 600000], not -0.5"}},
      {"est nan", {{"svm/model.toml", "backend = \"simulated\"\nest = nan\n"}},
       {m + ":2:7: 'est' must be in [0, 600000], not nan"}},
      {"est not a number", {{"svm/model.toml", "backend = \"simulated\"\nest = \"35\"\n"}},
       {m + ":2:7: 'est' must be a number, not a string"}},
      {"lag target", {{"svm/model.toml", Svm("lag_target_ms = -1\n")}},
       {m + ":3:17: 'lag_target_ms' must be in [0, 600000], not -1"}},
      {"replicas zero", {{"svm/model.toml", Svm("replicas = 0\n")}},
       {m + ":3:12: 'replicas' must be in [1, 256], not 0"}},
      {"replicas over the limit", {{"svm/model.toml", Svm("replicas = 3\n")}},
       {m + ":3:12: 'replicas' must be in [1, 2], not 3"}, {.max_replicas_per_model = 2}},
      {"replicas float", {{"svm/model.toml", Svm("replicas = 1.5\n")}},
       {m + ":3:12: 'replicas' must be an integer, not a float"}},
      // The deprecated name is checked as replicas is, and named as written.
      {"instances over the limit", {{"svm/model.toml", Svm("instances = 3\n")}},
       {m + ":3:13: 'instances' must be in [1, 2], not 3"}, {.max_replicas_per_model = 2}},
      {"replicas and instances", {{"svm/model.toml", Svm("replicas = 2\ninstances = 2\n")}},
       {m + ":4:13: 'instances' is the deprecated name of 'replicas': give only 'replicas'"}},
      {"device", {{"svm/model.toml", Svm("device = \"tpu\"\n")}},
       {m + ":3:10: unknown device 'tpu' (devices.toml declares none; use cpu, gpu or gpu:N)"}},
      {"device gpu:", {{"svm/model.toml", Svm("device = \"gpu:x\"\n")}},
       {m + ":3:10: unknown device 'gpu:x' (devices.toml declares none; use cpu, gpu or gpu:N)"}},
      {"labels not a table", {{"svm/model.toml", Svm("labels = 3\n")}},
       {m + ":3:10: 'labels' must be a table, not an integer"}},
      {"label not a string", {{"svm/model.toml", Svm("labels = { team = 1 }\n")}},
       {m + ":3:19: label 'team' must be a string, not an integer"}},
      {"two errors, both reported", {{"svm/model.toml", Svm("replicas = 0\nlag_target_ms = -1\n")}},
       {m + ":4:17: 'lag_target_ms' must be in [0, 600000], not -1",
        m + ":3:12: 'replicas' must be in [1, 256], not 0"}},
      {"members on a simulated model", {{"svm/model.toml", Svm("members = [\"x\"]\n")}},
       {m + ":3:11: 'members' applies only to a mix (backend = \"mix\")"}},
  });
}

TEST(HouseErrorTest, Batching) {
  const std::string m = "house/svm/model.toml";
  ExpectErrors({
      {"unknown key", {{"svm/model.toml", Svm("[batching]\nsize = 8\n")}},
       {m + ":4:1: unknown key 'size' in [batching] (expected max_batch_size, preferred_batch_sizes, "
            "max_queue_delay_ms, max_queue_size, adaptive)"}},
      {"adaptive without a lag target", {{"svm/model.toml", Svm("[batching]\nadaptive = true\n")}},
       {m + ":4:12: [batching] adaptive needs lag_target_ms: the p99 lag the online tuner holds"}},
      {"adaptive not a boolean", {{"svm/model.toml", Svm("lag_target_ms = 40\n[batching]\nadaptive = 1\n")}},
       {m + ":5:12: 'adaptive' must be a boolean, not an integer"}},
      {"not a table", {{"svm/model.toml", Svm("batching = 8\n")}},
       {m + ":3:12: 'batching' must be a table, not an integer"}},
      {"max batch size", {{"svm/model.toml", Svm("[batching]\nmax_batch_size = 0\n")}},
       {m + ":4:18: 'max_batch_size' must be in [1, 4096], not 0"}},
      {"preferred size above the max",
       {{"svm/model.toml", Svm("[batching]\nmax_batch_size = 8\npreferred_batch_sizes = [4, 16]\n")}},
       {m + ":5:29: an item of 'preferred_batch_sizes' must be in [1, 8], not 16"}},
      {"preferred sizes not an array", {{"svm/model.toml", Svm("[batching]\npreferred_batch_sizes = 4\n")}},
       {m + ":4:25: 'preferred_batch_sizes' must be an array, not an integer"}},
      {"queue delay", {{"svm/model.toml", Svm("[batching]\nmax_queue_delay_ms = 60001\n")}},
       {m + ":4:22: 'max_queue_delay_ms' must be in [0, 60000], not 60001"}},
      {"queue size", {{"svm/model.toml", Svm("[batching]\nmax_queue_size = 0\n")}},
       {m + ":4:18: 'max_queue_size' must be in [1, 1000000], not 0"}},
  });
}

TEST(HouseErrorTest, VersionPolicyAndWeights) {
  const std::string m = "house/svm/model.toml";
  const Files v2 = {{"svm/2/simulated.toml", "base_ms = 1\n"}};
  ExpectErrors({
      {"two policies", {{"svm/model.toml", Svm("[version_policy]\nlatest = 1\nall = true\n")}},
       {m + ":3:1: [version_policy] needs exactly one of latest, all, specific"}},
      {"no policy", {{"svm/model.toml", Svm("[version_policy]\n")}},
       {m + ":3:1: [version_policy] needs exactly one of latest, all, specific"}},
      {"unknown key", {{"svm/model.toml", Svm("[version_policy]\nnewest = 1\n")}},
       {m + ":4:1: unknown key 'newest' in [version_policy] (expected latest, all, specific)",
        m + ":3:1: [version_policy] needs exactly one of latest, all, specific"}},
      {"latest zero", {{"svm/model.toml", Svm("[version_policy]\nlatest = 0\n")}},
       {m + ":4:10: 'latest' must be in [1, 64], not 0"}},
      {"all false", {{"svm/model.toml", Svm("[version_policy]\nall = false\n")}},
       {m + ":4:7: 'all' must be true (for the latest only, use latest = 1)"}},
      {"all over the limit", With(v2, {{"svm/model.toml", Svm("[version_policy]\nall = true\n")}}),
       {m + ":4:7: 'all' serves 2 versions, more than the limit of 1"}, {.max_versions = 1}},
      {"specific empty", {{"svm/model.toml", Svm("[version_policy]\nspecific = []\n")}},
       {m + ":4:12: 'specific' must list 1 to 64 versions"}},
      {"specific without folder", {{"svm/model.toml", Svm("[version_policy]\nspecific = [1, 3]\n")}},
       {m + ":4:16: version 3 has no folder"}},
      {"specific twice", {{"svm/model.toml", Svm("[version_policy]\nspecific = [1, 1]\n")}},
       {m + ":4:16: version 1 is listed twice"}},
      {"specific zero", {{"svm/model.toml", Svm("[version_policy]\nspecific = [0]\n")}},
       {m + ":4:13: an item of 'specific' must be in [1, 9223372036854775807], not 0"}},
      {"weights key", {{"svm/model.toml", Svm("[weights]\nv1 = 1\n")}},
       {m + ":4:1: bad version 'v1' in [weights]"}},
      {"weight zero", {{"svm/model.toml", Svm("[weights]\n1 = 0\n")}},
       {m + ":4:5: the weight of version 1 must be in [1, 1000000], not 0"}},
      {"weight of a version not served", With(v2, {{"svm/model.toml", Svm("[weights]\n1 = 5\n")}}),
       {m + ":4:1: version 1 in [weights] is not served"}},
  });
}

TEST(HouseErrorTest, Tensors) {
  const std::string m = "house/svm/model.toml";
  ExpectErrors({
      {"not an array", {{"svm/model.toml", Svm("inputs = 1\n")}},
       {m + ":3:10: 'inputs' must be an array, not an integer"}},
      {"empty", {{"svm/model.toml", Svm("outputs = []\n")}},
       {m + ":3:11: 'outputs' must list 1 to 64 tensors"}},
      {"item not a table", {{"svm/model.toml", Svm("inputs = [1]\n")}},
       {m + ":3:11: an item of 'inputs' must be a table, not an integer"}},
      {"unknown key", {{"svm/model.toml", Svm("[[inputs]]\nname = \"q\"\ndatatype = \"BYTES\"\nshape = [1]\ndims = 1\n")}},
       {m + ":7:1: unknown key 'dims' in [[inputs]] (expected name, datatype, shape)"}},
      {"missing keys", {{"svm/model.toml", Svm("[[inputs]]\n")}},
       {m + ":3:1: missing key 'name' in [[inputs]]", m + ":3:1: missing key 'datatype' in [[inputs]]",
        m + ":3:1: missing key 'shape' in [[inputs]]"}},
      {"datatype", {{"svm/model.toml", Svm("[[inputs]]\nname = \"q\"\ndatatype = \"TEXT\"\nshape = [1]\n")}},
       {m + ":5:12: unknown datatype 'TEXT' (expected BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, "
            "INT32, INT64, FP16, FP32, FP64, BYTES)"}},
      {"shape item", {{"svm/model.toml", Svm("[[inputs]]\nname = \"q\"\ndatatype = \"BYTES\"\nshape = [-2]\n")}},
       {m + ":6:10: an item of 'shape' must be in [-1, 2147483647], not -2"}},
      {"rank", {{"svm/model.toml", Svm("[[inputs]]\nname = \"q\"\ndatatype = \"BYTES\"\nshape = [1,1,1,1,1,1,1,1,1]\n")}},
       {m + ":6:9: 'shape' has more than 8 dimensions"}},
      {"same name twice",
       {{"svm/model.toml", Svm("[[outputs]]\nname = \"a\"\ndatatype = \"BYTES\"\nshape = [1]\n"
                               "[[outputs]]\nname = \"a\"\ndatatype = \"BYTES\"\nshape = [1]\n")}},
       {m + ":7:1: tensor 'a' is listed twice in 'outputs'"}},
  });
}

TEST(HouseErrorTest, Folders) {
  ExpectErrors({
      {"bad model name", {{"a b/model.toml", "backend = \"mix\"\nmembers = [\"svm\"]\n"}},
       {"house/a b: bad model name 'a b' (1-128 characters of A-Z a-z 0-9 . _ -)"}},
      {"model name too long", {{std::string(129, 'm') + "/", ""}},
       {"house/" + std::string(129, 'm') + ": bad model name '" + std::string(129, 'm') +
        "' (1-128 characters of A-Z a-z 0-9 . _ -)"}},
      {"no model.toml", {{"bayes/1/", ""}},
       {"house/bayes/model.toml: missing file (every model folder needs one)"}},
      {"model.toml is a folder", {{"bayes/model.toml/", ""}},
       {"house/bayes/model.toml: not a regular file"}},
      {"too many models", {{"a/model.toml", "backend = \"mix\"\nmembers = [\"svm\"]\n"}},
       {"house: more than 1 model folders"}, {.max_models = 1}},
      {"bad version folder", {{"svm/v2/", ""}},
       {"house/svm: bad version folder 'v2' (version folders are positive integers: 1, 2, ...)"}},
      {"leading zero", {{"svm/01/", ""}},
       {"house/svm: bad version folder '01' (version folders are positive integers: 1, 2, ...)"}},
      {"no version folder", {{"bayes/model.toml", "backend = \"simulated\"\nest = 1\n"}},
       {"house/bayes: no version folder (versions are folders named 1, 2, ...)"}},
  });
}

TEST(HouseErrorTest, Versions) {
  const std::string s = "house/svm/1/simulated.toml";
  const std::string none = "house/svm: no loadable version";
  ExpectErrors({
      {"missing artifact", {{"svm/2/", ""}},
       {"house/svm/2/simulated.toml: missing artifact (a simulated version needs one)", none}},
      {"unknown key", {{"svm/1/simulated.toml", "base_ms = 1\nbase = 2\n"}},
       {s + ":2:1: unknown key 'base' in simulated.toml (expected base_ms, per_item_ms, jitter, "
            "jitter_spread, straggler_rate, straggler_factor, failure_rate, hang_rate, hang_ms, seed, echo, score)",
        none}},
      {"missing base", {{"svm/1/simulated.toml", "per_item_ms = 1\n"}},
       {s + ": missing key 'base_ms' in simulated.toml", none}},
      {"base range", {{"svm/1/simulated.toml", "base_ms = 600001\n"}},
       {s + ":1:11: 'base_ms' must be in [0, 600000], not 600001", none}},
      {"per item", {{"svm/1/simulated.toml", "base_ms = 1\nper_item_ms = -1\n"}},
       {s + ":2:15: 'per_item_ms' must be in [0, 600000], not -1", none}},
      {"jitter", {{"svm/1/simulated.toml", "base_ms = 1\njitter = \"gauss\"\n"}},
       {s + ":2:10: unknown jitter 'gauss' (expected none, uniform or lognormal)", none}},
      {"jitter spread", {{"svm/1/simulated.toml", "base_ms = 1\njitter_spread = 11\n"}},
       {s + ":2:17: 'jitter_spread' must be in [0, 10], not 11", none}},
      {"straggler rate", {{"svm/1/simulated.toml", "base_ms = 1\nstraggler_rate = 1.5\n"}},
       {s + ":2:18: 'straggler_rate' must be in [0, 1], not 1.5", none}},
      {"straggler factor", {{"svm/1/simulated.toml", "base_ms = 1\nstraggler_factor = 0.5\n"}},
       {s + ":2:20: 'straggler_factor' must be in [1, 1000], not 0.5", none}},
      {"failure rate", {{"svm/1/simulated.toml", "base_ms = 1\nfailure_rate = -0.1\n"}},
       {s + ":2:16: 'failure_rate' must be in [0, 1], not -0.1", none}},
      {"hang rate", {{"svm/1/simulated.toml", "base_ms = 1\nhang_rate = 2\n"}},
       {s + ":2:13: 'hang_rate' must be in [0, 1], not 2", none}},
      {"hang time", {{"svm/1/simulated.toml", "base_ms = 1\nhang_ms = 1e9\n"}},
       {s + ":2:11: 'hang_ms' must be in [0, 600000], not 1000000000", none}},
      {"seed", {{"svm/1/simulated.toml", "base_ms = 1\nseed = -1\n"}},
       {s + ":2:8: 'seed' must be in [0, 9223372036854775807], not -1", none}},
      {"echo", {{"svm/1/simulated.toml", "base_ms = 1\necho = 1\n"}},
       {s + ":2:8: 'echo' must be a boolean, not an integer", none}},
  });
}

TEST(HouseErrorTest, ABadVersionLeavesTheOthers) {
  TempHouse house(With(Base(), {{"svm/model.toml", Svm("[version_policy]\nall = true\n[weights]\n1 = 1\n2 = 3\n")},
                                {"svm/2/simulated.toml", "base_ms = -1\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan),
            std::vector<std::string>{"house/svm/2/simulated.toml:1:11: 'base_ms' must be in [0, 600000], not -1"});
  EXPECT_EQ(scan.errors[0].model, "svm");
  EXPECT_EQ(scan.errors[0].version, 2);
  const ModelConfig* m = Find(scan.config, "svm");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(Versions(*m), std::vector<int64_t>{1});
  // A version left out keeps its weight, for a reload that keeps the one it
  // served (routing counts only versions served).
  EXPECT_EQ(m->weights, (std::map<int64_t, int>{{1, 1}, {2, 3}}));
}

TEST(HouseErrorTest, ModelWideErrorsLeaveTheModelOut) {
  TempHouse house(With(Base(), {{"svm/model.toml", Svm("replicas = 0\n")}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(scan.errors.size(), 1u);
  EXPECT_EQ(scan.errors[0].model, "svm");
  EXPECT_EQ(scan.errors[0].version, 0);
  EXPECT_TRUE(scan.config.models.empty());
}

Files Mix(const std::string& name, const std::string& members, const std::string& more = "") {
  return {{name + "/model.toml", "backend = \"mix\"\nmembers = " + members + "\n" + more}};
}

// A remote model: no version folder, its [remote] table.
Files Remote(const std::string& remote, const std::string& more = "") {
  return {{"labeler/model.toml",
           "backend = \"kserve\"\nest = 10\n" + more + "[remote]\n" + remote}};
}

TEST(HouseTest, RemoteModels) {
  TempHouse house(With(Base(), With(Remote("protocol = \"grpc\"\nendpoints = [\"10.0.0.5:8001\", \"[::1]:8001\"]\n"
                                           "model = \"labels\"\nin_flight = 3\ntimeout_ms = 40\n"
                                           "access_id = \"broker\"\nsecret_file = \"broker.key\"\n",
                                           "[batching]\nmax_batch_size = 8\n"),
                                    {{"broker.key", "a-secret-of-enough-bytes"}})));
  fs::permissions(house.dir() / "broker.key", fs::perms::owner_read | fs::perms::owner_write);
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  const ModelConfig& m = *Find(scan.config, "labeler");
  EXPECT_TRUE(m.is_remote());
  EXPECT_EQ(m.remote.protocol, "grpc");
  EXPECT_EQ(m.remote.endpoints, (std::vector<std::string>{"10.0.0.5:8001", "[::1]:8001"}));
  EXPECT_EQ(m.remote.model, "labels");
  EXPECT_EQ(m.remote.timeout, Millis(40));
  EXPECT_EQ(m.remote.key.id, "broker");
  EXPECT_EQ(m.remote.key.secret, "a-secret-of-enough-bytes");
  EXPECT_EQ(m.replicas, 6);  // endpoints x in_flight
  EXPECT_EQ(m.batching.max_batch_size, 8);
  ASSERT_EQ(m.versions.size(), 1u);  // one version here, whatever the remote serves
  EXPECT_EQ(m.versions[0].number, 1);

  // The key file rotated in place: model.toml is the same, the version is not.
  house.Write("broker.key", "another-secret-of-enough-bytes");
  const HouseScan rotated = ScanHouse(house.dir());
  EXPECT_EQ(Find(rotated.config, "labeler")->fingerprint, m.fingerprint);
  EXPECT_NE(Find(rotated.config, "labeler")->versions[0].fingerprint, m.versions[0].fingerprint);
}

TEST(HouseErrorTest, RemoteModels) {
  const std::string m = "house/labeler/model.toml";
  ExpectErrors({
      {"no [remote]", {{"labeler/model.toml", "backend = \"kserve\"\nest = 10\n"}},
       {m + ":1:1: a kserve model needs a [remote] table (protocol, endpoints, ...)"}},
      {"[remote] elsewhere", {{"svm/model.toml", "backend = \"simulated\"\nest = 25\n[remote]\nendpoints = []\n"}},
       {"house/svm/model.toml:3:1: [remote] applies only to backend = \"kserve\""}},
      {"no endpoints", Remote("protocol = \"http\"\n"), {m + ":3:1: missing key 'endpoints' in [remote]"}},
      {"bad endpoint", Remote("endpoints = [\"10.0.0.5\"]\n"),
       {m + ":4:14: endpoint '10.0.0.5' must be HOST:PORT, e.g. 10.0.0.5:8000"}},
      {"no time to connect", Remote("endpoints = [\"a:1\"]\nconnect_timeout_ms = 0\n"),
       {m + ":5:22: 'connect_timeout_ms' must be in [1, 60000], not 0"}},
      {"bad protocol", Remote("endpoints = [\"a:1\"]\nprotocol = \"tcp\"\n"),
       {m + ":5:12: 'protocol' must be \"http\" or \"grpc\", not 'tcp'"}},
      {"replicas", Remote("endpoints = [\"a:1\"]\n", "replicas = 2\n"),
       {m + ":3:12: 'replicas' does not apply to a kserve model (its replicas are endpoints x remote.in_flight; "
            "its versions are the remote's)"}},
      {"version folder", With(Remote("endpoints = [\"a:1\"]\n"), {{"labeler/1/", ""}}),
       {"house/labeler: a kserve model (its versions are the remote's) has no version folders (found '1')"}},
      {"half a key", Remote("endpoints = [\"a:1\"]\naccess_id = \"x\"\n"),
       {m + ":3:1: a TBMS remote's key needs both 'access_id' and one of 'secret_file', 'secret_env'"}},
      {"ca without tls", Remote("endpoints = [\"a:1\"]\nca_file = \"ca.pem\"\n"),
       {m + ":5:11: 'ca_file' needs tls = true"}},
      {"unknown key", Remote("endpoints = [\"a:1\"]\nretries = 3\n"),
       {m + ":5:1: unknown key 'retries' in [remote] (expected protocol, endpoints, model, version, in_flight, "
            "connect_timeout_ms, timeout_ms, tls, ca_file, access_id, secret_file, secret_env, bearer_file, "
            "bearer_env, eject_after, eject_for_ms, share_estimates)"}},
  });
}

// devices.toml: a GPU with 1 GiB, a CPU of two cores, two remote servers.
constexpr const char* kDevices =
    "[gpu0]\nkind = \"gpu\"\nindex = 0\nmemory_mib = 1024\n"
    "[cpu0]\nkind = \"cpu\"\ncores = \"0-1\"\n"
    "[workers]\nkind = \"remote\"\nendpoints = [\"10.0.0.5:8000\", \"10.0.0.6:8000\"]\n";

std::string Group(std::string_view device, std::string_view more = "") {
  return "[[instance_group]]\ndevice = \"" + std::string(device) + "\"\n" + std::string(more);
}

// Instance groups resolve against devices.toml; a model placed the old way
// gets one group; a kserve model on a remote device calls its endpoints.
TEST(HouseTest, DevicesAndInstanceGroups) {
  Files files = With(Base(), {{"devices.toml", kDevices},
                              {"svm/model.toml", Svm(Group("gpu0", "count = 2\nshare_pct = 60\nmemory_mib = 256\n") +
                                                     Group("cpu0"))},
                              {"bayes/model.toml", "backend = \"simulated\"\nest = 15\nreplicas = 2\ndevice = \"gpu:1\"\n"},
                              {"bayes/1/simulated.toml", "base_ms = 1\n"},
                              {"labeler/model.toml", "backend = \"kserve\"\nest = 10\n" + Group("workers", "count = 3\n") +
                                                         "[remote]\nprotocol = \"grpc\"\n"}});
  TempHouse house(files);
  auto loaded = LoadHouse(house.dir());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_EQ(loaded->devices.size(), 3u);
  const DeviceConfig& gpu = loaded->devices[1];  // by name
  EXPECT_EQ(gpu.name, "gpu0");
  EXPECT_EQ(gpu.kind, DeviceKind::kGpu);
  EXPECT_EQ(gpu.memory_mib, 1024);
  EXPECT_EQ(gpu.capacity(), 1);
  EXPECT_EQ(loaded->devices[0].cores, (std::vector<int>{0, 1}));
  EXPECT_EQ(loaded->devices[0].capacity(), 2);

  const ModelConfig& svm = *Find(*loaded, "svm");
  ASSERT_EQ(svm.groups.size(), 2u);
  EXPECT_EQ(svm.replicas, 3);
  EXPECT_EQ(svm.device, "gpu0");  // the first group's: the metrics' label
  EXPECT_EQ(svm.groups[0].count, 2);
  EXPECT_EQ(svm.groups[0].device, gpu);
  EXPECT_DOUBLE_EQ(svm.groups[0].share, 0.6);
  EXPECT_EQ(svm.groups[0].memory_mib, 256);
  EXPECT_EQ(svm.groups[1].count, 1);
  EXPECT_EQ(svm.groups[1].device.cores, (std::vector<int>{0, 1}));

  const ModelConfig& bayes = *Find(*loaded, "bayes");  // the old way: one implicit group
  ASSERT_EQ(bayes.groups.size(), 1u);
  EXPECT_EQ(bayes.groups[0].count, 2);
  EXPECT_EQ(bayes.groups[0].device.kind, DeviceKind::kGpu);
  EXPECT_EQ(bayes.groups[0].device.gpu_index, 1);
  EXPECT_FALSE(bayes.groups[0].device.declared);

  const ModelConfig& labeler = *Find(*loaded, "labeler");
  EXPECT_EQ(labeler.remote.endpoints, (std::vector<std::string>{"10.0.0.5:8000", "10.0.0.6:8000"}));
  EXPECT_EQ(labeler.remote.in_flight, 3);
  EXPECT_EQ(labeler.replicas, 6);
  EXPECT_EQ(labeler.device, "workers");

  // A device that changes reloads the models on it, not the others.
  house.Write("devices.toml", std::string(kDevices).replace(std::string(kDevices).find("1024"), 4, "2048"));
  auto again = LoadHouse(house.dir());
  ASSERT_TRUE(again.ok()) << again.status().message();
  EXPECT_NE(Find(*again, "svm")->fingerprint, svm.fingerprint);
  EXPECT_EQ(Find(*again, "bayes")->fingerprint, bayes.fingerprint);
  EXPECT_EQ(Find(*again, "labeler")->fingerprint, labeler.fingerprint);
}

TEST(ParseCoreListTest, RangesAndErrors) {
  std::vector<int> cores;
  std::string error;
  EXPECT_TRUE(ParseCoreList("0-3,8,10-11", 1023, &cores, &error));
  EXPECT_EQ(cores, (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
  EXPECT_FALSE(ParseCoreList("3-1", 1023, &cores, &error));
  EXPECT_EQ(error, "'3-1' is not a core or a range of cores (e.g. \"0-3,8\")");
  EXPECT_FALSE(ParseCoreList("0,x", 1023, &cores, &error));
  EXPECT_EQ(error, "'x' is not a core or a range of cores (e.g. \"0-3,8\")");
  EXPECT_FALSE(ParseCoreList("0-2,2", 1023, &cores, &error));
  EXPECT_EQ(error, "core 2 is listed twice");
  EXPECT_FALSE(ParseCoreList("0-1,", 1023, &cores, &error));  // as ",0" is
  EXPECT_EQ(error, "'' is not a core or a range of cores (e.g. \"0-3,8\")");
  EXPECT_FALSE(ParseCoreList("1024", 1023, &cores, &error));
  EXPECT_EQ(error, "core 1024 is above 1023");
  EXPECT_FALSE(ParseCoreList("", 1023, &cores, &error));
  EXPECT_EQ(error, "no cores listed");
}

TEST(HouseErrorTest, Devices) {
  const std::string d = "house/devices.toml";
  auto devices = [](std::string text) { return Files{{"devices.toml", std::move(text)}}; };
  ExpectErrors({
      {"not a table", devices("gpu0 = 1\n"), {d + ":1:8: device 'gpu0' must be a table ([gpu0] with kind = ...), not an integer"}},
      {"bad name", devices("[\"gpu 0\"]\nkind = \"gpu\"\n"), {d + ":1:2: bad device name 'gpu 0' (1-128 characters of A-Z a-z 0-9 . _ -)"}},
      {"no kind", devices("[gpu0]\nindex = 0\n"), {d + ":1:1: missing key 'kind' in device 'gpu0'"}},
      {"unknown kind", devices("[tpu0]\nkind = \"tpu\"\n"),
       {d + ":2:8: device 'tpu0': kind must be \"cpu\", \"gpu\" or \"remote\", not 'tpu'"}},
      {"a key of another kind", devices("[gpu0]\nkind = \"gpu\"\ncores = \"0\"\n"),
       {d + ":3:1: unknown key 'cores' in device 'gpu0' (expected kind, index, memory_mib)"}},
      {"bad cores", devices("[cpu0]\nkind = \"cpu\"\ncores = \"0-x\"\n"),
       {d + ":3:9: device 'cpu0': '0-x' is not a core or a range of cores (e.g. \"0-3,8\")"}},
      {"cores of two devices", devices("[a]\nkind = \"cpu\"\ncores = \"0-3\"\n[b]\nkind = \"cpu\"\ncores = \"3-4\"\n"),
       {d + ":4:2: device 'b': core 3 is device 'a''s already"}},
      {"one GPU twice", devices("[a]\nkind = \"gpu\"\n[b]\nkind = \"gpu\"\nindex = 0\n"),
       {d + ":3:2: device 'b': CUDA index 0 is device 'a' already (share one GPU with share_pct in the models' "
            "instance groups)"}},
      {"gpu index", devices("[a]\nkind = \"gpu\"\nindex = 64\n"), {d + ":3:9: 'index' must be in [0, 63], not 64"}},
      {"gpu memory", devices("[a]\nkind = \"gpu\"\nmemory_mib = 0\n"),
       {d + ":3:14: 'memory_mib' must be in [1, 16777216], not 0"}},
      {"remote without endpoints", devices("[w]\nkind = \"remote\"\n"), {d + ":1:1: missing key 'endpoints' in device 'w'"}},
      {"remote endpoint", devices("[w]\nkind = \"remote\"\nendpoints = [\"w1\"]\n"),
       {d + ":3:14: endpoint 'w1' must be HOST:PORT, e.g. 10.0.0.5:8000"}},
  });
}

TEST(HouseErrorTest, Placements) {
  const std::string m = "house/svm/model.toml";
  auto svm = [](std::string more) { return Files{{"devices.toml", kDevices}, {"svm/model.toml", Svm(more)}}; };
  Files bayes_too = With(svm(Group("gpu0", "share_pct = 60\n")),
                         {{"bayes/model.toml", "backend = \"simulated\"\nest = 15\n" + Group("gpu0", "share_pct = 50\n")},
                          {"bayes/1/simulated.toml", "base_ms = 1\n"}});
  Files aliases = With(svm(Group("gpu", "share_pct = 60\n")),
                       {{"bayes/model.toml", "backend = \"simulated\"\nest = 15\n" + Group("gpu:0", "share_pct = 60\n")},
                        {"bayes/1/simulated.toml", "base_ms = 1\n"}});
  Files kserve = {{"devices.toml", kDevices},
                  {"labeler/model.toml", "backend = \"kserve\"\nest = 10\n" + Group("gpu0") + "[remote]\nprotocol = \"http\"\n"}};
  Files undeclared = {{"labeler/model.toml", "backend = \"kserve\"\nest = 10\n" + Group("remote", "count = 4\n") +
                                                 "[remote]\nprotocol = \"http\"\n"}};
  Files both = {{"devices.toml", kDevices},
                {"labeler/model.toml", "backend = \"kserve\"\nest = 10\n" + Group("workers") +
                                           "[remote]\nendpoints = [\"a:1\"]\n"}};
  ExpectErrors({
      {"unknown device", svm(Group("gpu7")),
       {m + ":4:10: unknown device 'gpu7' (devices.toml declares cpu0, gpu0, workers; or use cpu, gpu, gpu:N)"}},
      {"unknown device, the old way", svm("device = \"gpu7\"\n"),
       {m + ":3:10: unknown device 'gpu7' (devices.toml declares cpu0, gpu0, workers; or use cpu, gpu, gpu:N)"}},
      {"shares over 100%", bayes_too,
       {"house/bayes/model.toml:4:10: device 'gpu0': time shares add up to 110% (bayes 50%, svm 60%), at most 100%",
        m + ":4:10: device 'gpu0': time shares add up to 110% (bayes 50%, svm 60%), at most 100%"}},
      {"one GPU's names share its time", aliases,
       {"house/bayes/model.toml:4:10: GPU 0 (gpu, gpu:0): time shares add up to 120% (bayes 60%, svm 60%), at most "
        "100%",
        m + ":4:10: GPU 0 (gpu, gpu:0): time shares add up to 120% (bayes 60%, svm 60%), at most 100%"}},
      {"a GPU index out of range, the old way", svm("device = \"gpu:-1\"\n"),
       {m + ":3:10: unknown device 'gpu:-1' (devices.toml declares cpu0, gpu0, workers; or use cpu, gpu, gpu:N)"}},
      {"memory over capacity", svm(Group("gpu0", "count = 2\nmemory_mib = 600\n")),
       {m + ":4:10: device 'gpu0': memory over capacity: svm 2 x 600 MiB = 1200 MiB of 1024 MiB"}},
      {"a share of a CPU", svm(Group("cpu0", "share_pct = 50\n")),
       {m + ":4:10: share_pct and memory_mib apply to a gpu device, not to cpu device 'cpu0'"}},
      {"memory of a GPU that declares none", svm(Group("gpu", "memory_mib = 100\n")),
       {m + ":4:10: device 'gpu' declares no memory_mib to reserve 100 MiB from"}},
      {"a model on a remote device", svm(Group("workers")),
       {m + ":4:10: device 'workers' is remote: only a kserve model runs there"}},
      {"a kserve model on a GPU", kserve,
       {"house/labeler/model.toml:4:10: a kserve model runs on a remote device, not on gpu device 'gpu0'"}},
      {"a kserve model's group on no declared device", undeclared,
       {"house/labeler/model.toml:4:10: device 'remote' is not declared: a kserve model's instance group names a "
        "remote device of devices.toml (its endpoints); or give [remote] endpoints and no instance group"}},
      {"endpoints twice", both,
       {"house/labeler/model.toml:4:10: give [remote] endpoints or an instance group on a remote device, not both"}},
      {"groups and replicas", svm("replicas = 2\n" + Group("gpu0")),
       {m + ":3:12: give [[instance_group]] or 'replicas', not both"}},
      {"two groups on one device", svm(Group("gpu0") + Group("gpu0")),
       {m + ":6:10: two instance groups on device 'gpu0': give one its count"}},
      {"a group without a device", svm("[[instance_group]]\ncount = 2\n"),
       {m + ":3:1: missing key 'device' in [[instance_group]]"}},
      {"an unknown group key", svm(Group("gpu0", "kind = \"KIND_GPU\"\n")),
       {m + ":5:1: unknown key 'kind' in [[instance_group]] (expected count, device, share_pct, memory_mib)"}},
      {"share zero", svm(Group("gpu0", "share_pct = 0\n")),
       {m + ":5:13: 'share_pct' must be above 0 (leave it out for no limit)"}},
      {"share over 100", svm(Group("gpu0", "share_pct = 150\n")),
       {m + ":5:13: 'share_pct' must be in [0, 100], not 150"}},
      {"count over the limit", svm(Group("gpu0", "count = 300\n")),
       {m + ":5:9: 'count' must be in [1, 256], not 300"}},
      {"a group on a mix", {{"mix1/model.toml", "backend = \"mix\"\nmembers = [\"svm\"]\n" + Group("gpu")}},
       {"house/mix1/model.toml:3:1: 'instance_group' does not apply to a mix"}},
  });
}

// Nesting and size are bounded where the house is checked, not first at a
// try (limits.h): a chain of 17 mixes, and a mix of 2 x 16 x 16 mixes of
// one model.
TEST(HouseErrorTest, MixesPastTheirLimits) {
  Files chain;
  for (int i = 1; i <= 17; ++i) {
    char name[8], member[8];
    std::snprintf(name, sizeof name, "c%02d", i);
    std::snprintf(member, sizeof member, "c%02d", i - 1);
    chain = With(chain, Mix(name, i == 1 ? "[\"svm\"]" : "[\"" + std::string(member) + "\"]"));
  }
  Files wide = With(Mix("top", "[\"q1\", \"q2\"]"), Mix("q1", "[\"p1\"]"));
  std::string ks, ps;
  for (int i = 1; i <= 16; ++i) {
    const std::string n = (i < 10 ? "0" : "") + std::to_string(i);
    wide = With(wide, Mix("k" + n, "[\"svm\"]"));
    ks += (ks.empty() ? "\"k" : ", \"k") + n + "\"";
    ps += (ps.empty() ? "\"p" : ", \"p") + n + "\"";
  }
  for (int i = 1; i <= 16; ++i) wide = With(wide, Mix("p" + std::string(i < 10 ? "0" : "") + std::to_string(i), "[" + ks + "]"));
  wide = With(wide, With(Mix("q1", "[" + ps + "]"), Mix("q2", "[" + ps + "]")));
  ExpectErrors({
      {"17 deep", chain, {"house/c17/model.toml:2:12: mixes nest 17 deep here, at most 16"}},
      {"512 models", wide, {"house/top/model.toml:2:12: this mix runs 512 models in all, at most 256"}},
  });
}

TEST(HouseErrorTest, Mixes) {
  ExpectErrors({
      {"est on a mix", Mix("mix1", "[\"svm\"]", "est = 5\n"),
       {"house/mix1/model.toml:3:7: 'est' does not apply to a mix"}},
      {"batching on a mix", Mix("mix1", "[\"svm\"]", "[batching]\nmax_batch_size = 2\n"),
       {"house/mix1/model.toml:3:1: 'batching' does not apply to a mix"}},
      {"replicas on a mix", Mix("mix1", "[\"svm\"]", "replicas = 2\ninstances = 2\n"),
       {"house/mix1/model.toml:3:12: 'replicas' does not apply to a mix",
        "house/mix1/model.toml:4:13: 'instances' does not apply to a mix"}},
      {"missing members", {{"mix1/model.toml", "backend = \"mix\"\n"}},
       {"house/mix1/model.toml: missing key 'members' in model.toml"}},
      {"no members", Mix("mix1", "[]"), {"house/mix1/model.toml:2:11: 'members' must list 1 to 32 names"}},
      {"member twice", Mix("mix1", "[\"svm\", \"svm\"]"),
       {"house/mix1/model.toml:2:19: 'svm' is listed twice in 'members'"}},
      {"member not a string", Mix("mix1", "[1]"),
       {"house/mix1/model.toml:2:12: an item of 'members' must be a string, not an integer"}},
      {"aggregator", Mix("mix1", "[\"svm\"]", "aggregator = \"min\"\n"),
       {"house/mix1/model.toml:3:14: unknown aggregator 'min' (expected max, avg or vote)"}},
      {"version folder in a mix", With(Mix("mix1", "[\"svm\"]"), {{"mix1/1/", ""}}),
       {"house/mix1: a mix has no version folders (found '1')"}},
      {"missing member", Mix("mix1", "[\"svm\", \"nope\"]"),
       {"house/mix1/model.toml:2:19: member 'nope' is not in the house"}},
      {"member in error",
       With(Mix("mix1", "[\"bayes\", \"svm\"]"), {{"bayes/model.toml", "est = 1\n"}, {"bayes/1/", ""}}),
       {"house/bayes/model.toml: missing key 'backend' in model.toml",
        "house/mix1/model.toml:2:12: member 'bayes' has errors"}},
      {"self", Mix("mix1", "[\"mix1\"]"), {"house/mix1/model.toml:2:12: mix cycle: mix1 -> mix1"}},
      {"cycle", With(Mix("mix1", "[\"svm\", \"mix2\"]"), Mix("mix2", "[\"mix1\"]")),
       {"house/mix1/model.toml:2:19: mix cycle: mix1 -> mix2 -> mix1",
        "house/mix2/model.toml:2:12: mix cycle: mix2 -> mix1 -> mix2"}},
      {"a mix of a mix in error", With(Mix("mix1", "[\"nope\"]"), Mix("mix2", "[\"svm\", \"mix1\"]")),
       {"house/mix1/model.toml:2:12: member 'nope' is not in the house",
        "house/mix2/model.toml:2:19: member 'mix1' has errors"}},
  });
}

TEST(HouseErrorTest, Instances) {
  const std::string i = "house/instances.toml";
  auto task = [](std::string_view body) {
    return Files{{"instances.toml", "[instances.a.tasks.qa]\n" + std::string(body)}};
  };
  ExpectErrors({
      {"unknown root key", {{"instances.toml", "instance = 1\n"}},
       {i + ":1:1: unknown key 'instance' in instances.toml (expected admin, instances)"}},
      {"instances not a table", {{"instances.toml", "instances = 1\n"}},
       {i + ":1:13: 'instances' must be a table, not an integer"}},
      {"bad instance name", {{"instances.toml", "[instances.\"a b\"]\n"}},
       {i + ":1:12: bad instance name 'a b' (1-128 characters of A-Z a-z 0-9 . _ -)"}},
      {"instance not a table", {{"instances.toml", "[instances]\na = 1\n"}},
       {i + ":2:5: instance 'a' must be a table, not an integer"}},
      {"unknown instance key", {{"instances.toml", "[instances.a]\nquota = 1\n"}},
       {i + ":2:1: unknown key 'quota' in instance 'a' (expected models, keys, tasks, max_concurrent, max_rps)"}},
      {"max_concurrent zero", {{"instances.toml", "[instances.a]\nmax_concurrent = 0\n"}},
       {i + ":2:18: 'max_concurrent' must be in [1, 1000000], not 0"}},
      {"max_rps not a number", {{"instances.toml", "[instances.a]\nmax_rps = \"fast\"\n"}},
       {i + ":2:11: 'max_rps' must be a number, not a string"}},
      {"tasks not a table", {{"instances.toml", "[instances.a]\ntasks = 1\n"}},
       {i + ":2:9: 'tasks' must be a table, not an integer"}},
      {"the report's instance names", {{"instances.toml", "[instances.v2]\n[instances.other]\n"}},
       {i + ":2:12: instance name 'other' is the report's own (its rows past the report's caps)",
        i + ":1:12: instance name 'v2' is the report's own (admin and unsigned v2 infers)"}},
      {"the report's task name", {{"instances.toml", "[instances.a.tasks.other]\nmodels = [\"svm\"]\ntloc = 5\n"}},
       {i + ":1:20: task name 'other' is the report's own (its rows past the report's caps)"}},
      {"bad task name", {{"instances.toml", "[instances.a.tasks.\"q/a\"]\nmodels = [\"svm\"]\ntloc = 5\n"}},
       {i + ":1:20: bad task name 'q/a' (1-128 characters of A-Z a-z 0-9 . _ -)"}},
      {"task not a table", {{"instances.toml", "[instances.a.tasks]\nqa = 1\n"}},
       {i + ":2:6: task 'qa' must be a table, not an integer"}},
      {"unknown task key", task("models = [\"svm\"]\ntloc = 5\ncross_request = 1\n"),
       {i + ":4:1: unknown key 'cross_request' in task 'qa' (expected models, tloc, crossRequest, "
            "crossLag, priority, hedge)"}},
      {"missing models and tloc", task(""),
       {i + ":1:1: missing key 'models' in task 'qa'", i + ":1:1: missing key 'tloc' in task 'qa'"}},
      {"no models", task("models = []\ntloc = 5\n"), {i + ":2:10: 'models' must list 1 to 32 names"}},
      {"model twice", task("models = [\"svm\", \"svm\"]\ntloc = 5\n"),
       {i + ":2:18: 'svm' is listed twice in 'models'"}},
      {"model not in the house", task("models = [\"svm\", \"nope\"]\ntloc = 5\n"),
       {i + ":2:18: model 'nope' is not in the house"}},
      {"model in error",
       With(task("models = [\"bayes\"]\ntloc = 5\n"), {{"bayes/model.toml", "est = 1\n"}, {"bayes/1/", ""}}),
       {"house/bayes/model.toml: missing key 'backend' in model.toml", i + ":2:11: model 'bayes' has errors"}},
      {"tloc zero", task("models = [\"svm\"]\ntloc = 0\n"), {i + ":3:8: 'tloc' must be more than 0"}},
      {"tloc too long", task("models = [\"svm\"]\ntloc = 600001\n"),
       {i + ":3:8: 'tloc' must be in [0, 600000], not 600001"}},
      {"crossRequest", task("models = [\"svm\"]\ntloc = 5\ncrossRequest = 17\n"),
       {i + ":4:16: 'crossRequest' must be in [0, 16], not 17"}},
      {"crossLag", task("models = [\"svm\"]\ntloc = 5\ncrossLag = -1\n"),
       {i + ":4:12: 'crossLag' must be in [0, 600000], not -1"}},
      {"priority", task("models = [\"svm\"]\ntloc = 5\npriority = 1001\n"),
       {i + ":4:12: 'priority' must be in [-1000, 1000], not 1001"}},
      {"hedge", task("models = [\"svm\"]\ntloc = 5\nhedge = \"never\"\n"),
       {i + ":4:9: 'hedge' must be \"at_risk\" or \"expected\""}},
  });
}

TEST(HouseErrorTest, InstanceModels) {
  const std::string i = "house/instances.toml";
  ExpectErrors({
      {"not an array", {{"instances.toml", "[instances.a]\nmodels = \"svm\"\n"}},
       {i + ":2:10: 'models' must be an array, not a string"}},
      {"not in the house", {{"instances.toml", "[instances.a]\nmodels = [\"svm\", \"gpt\"]\n"}},
       {i + ":2:18: model 'gpt' is not in the house"}},
      {"a task outside them",
       {{"instances.toml", "[instances.a]\nmodels = [\"svm\"]\n[instances.a.tasks.qa]\nmodels = [\"svm\", \"mix\"]\n"
                           "tloc = 5\n"}},
       {i + ":4:18: model 'mix' is not among the instance's models"}},
  });
}

// Key files are made owner-only here: TempHouse writes with the umask's mode.
TEST(HouseErrorTest, Keys) {
  const std::string i = "house/instances.toml";
  ::setenv("TBMS_TEST_SHORT_SECRET", "short", 1);
  ::setenv("TBMS_TEST_SECRET", "test-secret-0123456789", 1);
  ::unsetenv("TBMS_TEST_UNSET_SECRET");
  auto keys = [](std::string_view list) {
    return Files{{"instances.toml", "[instances.a]\nkeys = " + std::string(list) + "\n"}};
  };
  ExpectErrors({
      {"not an array", keys("1"), {i + ":2:8: 'keys' must be an array, not an integer"}},
      {"not a table", keys("[1]"), {i + ":2:9: an item of 'keys' must be a table { id = ..., secret_file = ... }, not an integer"}},
      {"unknown field", keys("[{ id = \"a1\", secret = \"x\", secret_env = \"TBMS_TEST_SECRET\" }]"),
       {i + ":2:22: unknown key 'secret' in a key (expected id, secret_file, secret_env)"}},
      {"no id", keys("[{ secret_env = \"TBMS_TEST_SECRET\" }]"), {i + ":2:9: missing key 'id' in a key"}},
      {"bad id", keys("[{ id = \"a 1\", secret_env = \"TBMS_TEST_SECRET\" }]"),
       {i + ":2:16: bad access id 'a 1' (1-128 characters of A-Z a-z 0-9 . _ -)"}},
      {"empty id", keys("[{ id = \"\", secret_env = \"TBMS_TEST_SECRET\" }]"),
       {i + ":2:16: bad access id '' (1-128 characters of A-Z a-z 0-9 . _ -)"}},
      {"no secret", keys("[{ id = \"a1\" }]"),
       {i + ":2:9: key 'a1' needs exactly one of 'secret_file' and 'secret_env'"}},
      {"two secrets", keys("[{ id = \"a1\", secret_env = \"TBMS_TEST_SECRET\", secret_file = \"k\" }]"),
       {i + ":2:9: key 'a1' needs exactly one of 'secret_file' and 'secret_env'"}},
      {"unset variable", keys("[{ id = \"a1\", secret_env = \"TBMS_TEST_UNSET_SECRET\" }]"),
       {i + ":2:35: secret_env 'TBMS_TEST_UNSET_SECRET' is not set in the environment"}},
      {"short secret", keys("[{ id = \"a1\", secret_env = \"TBMS_TEST_SHORT_SECRET\" }]"),
       {i + ":2:35: secret_env 'TBMS_TEST_SHORT_SECRET' holds a secret shorter than 16 bytes"}},
      {"missing file", keys("[{ id = \"a1\", secret_file = \".keys/a1.key\" }]"),
       {i + ":2:36: secret_file 'house/.keys/a1.key' is not a readable file"}},
      {"absolute path", keys("[{ id = \"a1\", secret_file = \"/nonexistent/a1.key\" }]"),
       {i + ":2:36: secret_file '/nonexistent/a1.key' is not a readable file"}},
      {"file readable by others",
       With(keys("[{ id = \"a1\", secret_file = \".keys/a1.key\" }]"), {{".keys/a1.key", "0123456789abcdef0123\n"}}),
       {i + ":2:36: secret_file 'house/.keys/a1.key' may be read by group or others: chmod 600 it"}},
      {"an id twice",
       {{"instances.toml", "[admin]\nkeys = [{ id = \"k\", secret_env = \"TBMS_TEST_SECRET\" }]\n"
                           "[instances.a]\nkeys = [{ id = \"k\", secret_env = \"TBMS_TEST_SECRET\" }]\n"}},
       {i + ":4:16: access id 'k' is used twice"}},
      {"unknown admin key", {{"instances.toml", "[admin]\nusers = 1\n"}},
       {i + ":2:1: unknown key 'users' in [admin] (expected keys)"}},
  });
}

TEST(HouseTest, KeysReadTheirSecretsAndNeverShowThem) {
  TempHouse house(With(Base(), {{"instances.toml",
                                 "[admin]\nkeys = [{ id = \"ops\", secret_file = \".keys/ops.key\" }]\n"
                                 "[instances.a]\nmodels = [\"svm\"]\n"
                                 "keys = [{ id = \"a1\", secret_env = \"TBMS_TEST_A1_SECRET\" }]\n"},
                                {".keys/ops.key", "ops-secret-0123456789\r\n"}}));
  fs::permissions(house.dir() / ".keys/ops.key", fs::perms::owner_read | fs::perms::owner_write);
  ::setenv("TBMS_TEST_A1_SECRET", "a1-secret-0123456789", 1);
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  ASSERT_EQ(scan.config.admin_keys.size(), 1u);
  EXPECT_EQ(scan.config.admin_keys[0].id, "ops");
  EXPECT_EQ(scan.config.admin_keys[0].secret, "ops-secret-0123456789");
  EXPECT_TRUE(scan.config.admin_keys[0].admin());
  const InstanceConfig& a = scan.config.instances.at(0);
  ASSERT_EQ(a.keys.size(), 1u);
  EXPECT_EQ(a.keys[0].secret, "a1-secret-0123456789");
  EXPECT_EQ(a.keys[0].instance, "a");
  EXPECT_TRUE(a.Allows("svm"));
  EXPECT_FALSE(a.Allows("mix"));

  // A secret too short is reported by its file's name, never its content.
  house.Write(".keys/ops.key", "tiny-secret");
  fs::permissions(house.dir() / ".keys/ops.key", fs::perms::owner_read | fs::perms::owner_write);
  scan = ScanHouse(house.dir());
  ASSERT_EQ(scan.errors.size(), 1u);
  EXPECT_EQ(scan.errors[0].message.find("tiny-secret"), std::string::npos) << scan.errors[0].message;
  EXPECT_NE(scan.errors[0].message.find(".keys/ops.key' holds a secret shorter than 16 bytes"), std::string::npos);

  // A key file is read bounded.
  house.Write(".keys/ops.key", std::string(5000, 'k'));
  fs::permissions(house.dir() / ".keys/ops.key", fs::perms::owner_read | fs::perms::owner_write);
  scan = ScanHouse(house.dir());
  ASSERT_EQ(scan.errors.size(), 1u);
  EXPECT_NE(scan.errors[0].message.find(".keys/ops.key' is larger than 4096 bytes"), std::string::npos)
      << scan.errors[0].message;
}

TEST(HouseTest, NoSecretsChecksTheDeclarationsOnly) {
  ::unsetenv("TBMS_TEST_ABSENT_SECRET");
  TempHouse house(With(Base(), {{"instances.toml",
                                 "[instances.a]\nkeys = [{ id = \"a1\", secret_env = \"TBMS_TEST_ABSENT_SECRET\" },\n"
                                 "  { id = \"a2\", secret_file = \".keys/absent.key\" }, { id = \"a3\" }]\n"}}));
  HouseScan scan = ScanHouse(house.dir(), {.read_secrets = false});
  EXPECT_EQ(house.Errors(scan),  // only what the declarations get wrong
            std::vector<std::string>{"house/instances.toml:3:52: key 'a3' needs exactly one of 'secret_file' and 'secret_env'"});
  ASSERT_EQ(scan.config.instances.at(0).keys.size(), 2u);
  EXPECT_EQ(scan.config.instances.at(0).keys[0].secret, "");
  EXPECT_EQ(house.Errors(ScanHouse(house.dir())).size(), 3u);  // read: both secrets are missing too
}

TEST(HouseErrorTest, ATaskInErrorIsLeftOut) {
  TempHouse house(With(Base(), {{"instances.toml",
                                 "[instances.a.tasks.bad]\nmodels = [\"svm\"]\ntloc = 0\n"
                                 "[instances.a.tasks.good]\nmodels = [\"svm\"]\ntloc = 5\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(scan.errors.size(), 1u);
  EXPECT_EQ(scan.errors[0].model, "");
  EXPECT_FALSE(scan.errors[0].names_model);
  ASSERT_EQ(scan.config.instances.size(), 1u);
  EXPECT_EQ(scan.config.instances[0].tasks.size(), 1u);
  EXPECT_TRUE(scan.config.instances[0].tasks.contains("good"));
}

// A task or allow-list naming a model that is missing or broken is an error
// for the house check, but the task stays, with the name: a reload keeps
// serving it with the models it has (and keeps the instance's keys current).
TEST(HouseErrorTest, ATaskNamingAMissingModelStays) {
  TempHouse house(With(Base(), {{"instances.toml",
                                 "[instances.a]\nmodels = [\"svm\", \"nope\"]\n"
                                 "[instances.a.tasks.qa]\nmodels = [\"nope\", \"svm\"]\ntloc = 5\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(scan.errors.size(), 2u);
  for (const HouseError& e : scan.errors) EXPECT_TRUE(e.names_model) << e.message;
  ASSERT_EQ(scan.config.instances.size(), 1u);
  EXPECT_EQ(scan.config.instances[0].models, (std::vector<std::string>{"svm", "nope"}));
  ASSERT_TRUE(scan.config.instances[0].tasks.contains("qa"));
  EXPECT_EQ(scan.config.instances[0].tasks.at("qa").models, (std::vector<std::string>{"nope", "svm"}));
  EXPECT_FALSE(LoadHouse(house.dir()).ok());  // still refused at start
}

TEST(HouseErrorTest, TheHouseItself) {
  const fs::path missing = fs::temp_directory_path() / "tbms_house_test_no_such_house";
  HouseScan scan = ScanHouse(missing);
  ASSERT_EQ(scan.errors.size(), 1u);
  EXPECT_EQ(scan.errors[0].message, missing.string() + ": no such directory");

  TempHouse house(Files{{"file", "x"}});
  scan = ScanHouse(house.dir() / "file");
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{"house/file: not a directory"});
}

// ---------------------------------------------------------------------------
// Hostile files: each is refused with one clean error, nothing crashes.

TEST(HouseErrorTest, HostileFiles) {
  const std::string m = "house/svm/model.toml";
  const std::string deep_array = "x = " + std::string(100'000, '[');
  std::string deep_key = "a";
  for (int i = 0; i < 50'000; ++i) deep_key += ".a";  // toml++ alone overflows the stack on this
  std::string deep_header = "[a";
  for (int i = 0; i < 50'000; ++i) deep_header += ".a";
  std::string deep_inline = "x = ";
  for (int i = 0; i < 1000; ++i) deep_inline += "{a.a = ";
  ExpectErrors({
      {"huge", {{"svm/model.toml", Svm(std::string(2 << 20, '#'))}},
       {m + ": file is larger than 1048576 bytes"}},
      {"over a small limit", {{"svm/model.toml", Svm("")}},
       {m + ": file is larger than 10 bytes"}, {.max_file_bytes = 10}},
      {"binary", {{"svm/model.toml", std::string("backend = \"mix\"\0\x01\x02", 18)}},
       {m + ": not a text file"}},
      {"invalid utf-8", {{"svm/model.toml", Svm("labels = { team = \"\xff\" }\n")}},
       {m + ":3:19: Encountered invalid utf-8 sequence"}},
      {"malformed", {{"svm/model.toml", "backend = \"simulated\"\nest = \n"}},
       {m + ":2:7: Error while parsing key-value pair: expected value, saw '\\n'"}},
      {"deep arrays", {{"svm/model.toml", deep_array}}, {m + ":1:69: nested deeper than 64 levels"}},
      {"deep dotted key", {{"svm/model.toml", deep_key + " = 1\n"}},
       {m + ":1:130: nested deeper than 64 levels"}},
      {"deep table header", {{"svm/model.toml", deep_header + "]\n"}},
       {m + ":1:129: nested deeper than 64 levels"}},
      {"deep inline tables", {{"svm/model.toml", deep_inline}},
       {m + ":1:" + std::to_string(5 + 7 * 32) + ": nested deeper than 64 levels"}},
      {"dots in strings and comments do not count",
       {{"svm/model.toml", Svm("labels = { a = \"" + std::string(100, '.') + "\" } # " +
                               std::string(100, '.') + "\n")}},
       {}},
  });
}

TEST(HouseErrorTest, TooManyFilesInAVersion) {
  TempHouse house(Base());
  for (int i = 0; i < 10'000; ++i) house.Write("svm/1/f" + std::to_string(i), "");
  EXPECT_EQ(house.Errors(ScanHouse(house.dir())),
            (std::vector<std::string>{"house/svm/1: more than 10000 entries", "house/svm: no loadable version"}));
}

// [warmup]: batches of each size at load; off (one question) by default.
TEST(HouseTest, Warmup) {
  TempHouse house(With(Base(), {{"svm/model.toml", Svm("[warmup]\ncount = 8\nquestion = \"how long is a batch?\"\n")},
                                {"bayes/model.toml", "backend = \"simulated\"\nest = 15\n"},
                                {"bayes/1/simulated.toml", "base_ms = 1\n"}}));
  HouseScan scan = ScanHouse(house.dir());
  ASSERT_EQ(house.Errors(scan), std::vector<std::string>{});
  EXPECT_EQ(Find(scan.config, "svm")->warmup.count, 8);
  EXPECT_EQ(Find(scan.config, "svm")->warmup.question, "how long is a batch?");
  ASSERT_NE(Find(scan.config, "bayes"), nullptr);
  EXPECT_EQ(Find(scan.config, "bayes")->warmup.count, 0);
}

TEST(HouseErrorTest, Warmup) {
  const std::string m = "house/svm/model.toml";
  ExpectErrors({
      {"unknown key", {{"svm/model.toml", Svm("[warmup]\nbatches = 8\n")}},
       {m + ":4:1: unknown key 'batches' in [warmup] (expected count, question)"}},
      {"count out of range", {{"svm/model.toml", Svm("[warmup]\ncount = 101\n")}},
       {m + ":4:9: [warmup] count must be 0 or 8 to 100, not 101: a batch size is planned on its own times "
            "once it has run 8 times"}},
      {"count too few to plan on", {{"svm/model.toml", Svm("[warmup]\ncount = 3\n")}},
       {m + ":4:9: [warmup] count must be 0 or 8 to 100, not 3: a batch size is planned on its own times "
            "once it has run 8 times"}},
      {"count not an integer", {{"svm/model.toml", Svm("[warmup]\ncount = \"8\"\n")}},
       {m + ":4:9: 'count' must be an integer, not a string"}},
      {"question past the limits",
       {{"svm/model.toml", Svm("[limits]\nmax_question_bytes = 4\n[warmup]\ncount = 8\nquestion = \"hello\"\n")}},
       {m + ":7:12: [warmup] question: the question has 5 bytes, the model takes at most 4 "
            "(limits.max_question_bytes in its model.toml)"}},
      {"question of more words than the limits",
       {{"svm/model.toml", Svm("[limits]\nmax_terms = 2\n[warmup]\nquestion = \"a b c\"\n")}},
       {m + ":6:12: [warmup] question: the question has 3 words, the model takes at most 2 "
            "(limits.max_terms in its model.toml)"}},
      {"count negative", {{"svm/model.toml", Svm("[warmup]\ncount = -1\n")}},
       {m + ":4:9: [warmup] count must be 0 or 8 to 100, not -1: a batch size is planned on its own times "
            "once it has run 8 times"}},
      {"on a mix", Mix("mix1", "[\"svm\"]", "[warmup]\ncount = 1\n"),
       {"house/mix1/model.toml:3:1: 'warmup' does not apply to a mix"}},
      {"on a kserve model", Remote("endpoints = [\"a:1\"]\n", "[warmup]\ncount = 1\n"),
       {"house/labeler/model.toml:3:1: [warmup] does not apply to a kserve model (the remote serves already, "
        "and may be down at load; its times are learned from its first calls)"}},
  });
}

}  // namespace
}  // namespace tbms
