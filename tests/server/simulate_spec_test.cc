// `--simulate` specs: what each becomes and the error for each bad form.
#include "tbms/server/simulate_spec.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

TEST(SimulateSpecTest, SingleItemTimeAndDefaultIncrement) {
  auto specs = ParseSimulateSpec("embedding=35,svm=25:5", {});
  ASSERT_TRUE(specs.ok()) << specs.status().ToString();
  ASSERT_EQ(specs->size(), 2u);
  const SimulatedModelSpec& e = (*specs)[0];
  EXPECT_EQ(e.simulated.model, "embedding");
  EXPECT_EQ(e.batching.model, "embedding");
  EXPECT_EQ(e.default_est, Millis(35));
  EXPECT_EQ(e.simulated.per_item, Millis(3.5));  // MS / 10
  EXPECT_EQ(e.simulated.base + e.simulated.per_item, Millis(35));  // a batch of 1
  const SimulatedModelSpec& s = (*specs)[1];
  EXPECT_EQ(s.simulated.per_item, Millis(5));
  EXPECT_EQ(s.simulated.base, Millis(20));
  EXPECT_NE(e.simulated.seed, s.simulated.seed);
}

TEST(SimulateSpecTest, CarriesDefaults) {
  SimulateDefaults d;
  d.batching.max_batch_size = 16;
  d.shape.replicas = 3;
  auto specs = ParseSimulateSpec("zero=0", d);
  ASSERT_TRUE(specs.ok());
  EXPECT_EQ((*specs)[0].batching.max_batch_size, 16);
  EXPECT_EQ((*specs)[0].simulated.replicas, 3);
  EXPECT_EQ((*specs)[0].simulated.base, Duration(0));
}

TEST(SimulateSpecTest, RejectsBadSpecs) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "name at least one model"},
      {"svm", "expected NAME=MS"},
      {"=5", "expected NAME=MS"},
      {"svm=", "bad time"},
      {"svm=abc", "bad time"},
      {"svm=-1", "bad time"},
      {"svm=5:x", "bad per-item time"},
      {"svm=5:6", "per-item time exceeds"},
      {"s v=5", "bad model name"},
      {"caf\xc3\xa9=5", "bad model name"},  // ASCII only, whatever the locale
      {"svm=5,", "trailing comma"},
  };
  for (const auto& [spec, message] : cases) {
    auto r = ParseSimulateSpec(spec, {});
    ASSERT_FALSE(r.ok()) << spec;
    EXPECT_NE(r.status().message().find(message), std::string::npos)
        << spec << " -> " << r.status().message();
  }
}

// The house's name rule (tbms/common/names.h): at most 128 characters, so a
// --simulate model is a name every route and metric label can carry.
TEST(SimulateSpecTest, ModelNamesFollowTheHouseRule) {
  EXPECT_TRUE(ParseSimulateSpec(std::string(128, 'm') + "=5", {}).ok());
  auto r = ParseSimulateSpec(std::string(129, 'm') + "=5", {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad model name"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("1-128 characters"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace tbms
