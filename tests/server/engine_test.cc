// The engine's model lifecycle: loading a house scan, swapping versions,
// keeping what serves when a reload fails, retiring and sweeping. Traffic
// during reloads is tested end to end (tests/e2e/test_house.py).
#include "tbms/server/engine.h"

#include <gtest/gtest.h>

#include <optional>

#include "tbms/common/virtual_clock.h"

#include "simulated_model.h"

namespace tbms {
namespace {

using server_test::Simulated;

HouseScan Scan(std::vector<ModelConfig> models, std::vector<HouseError> errors = {}) {
  HouseScan scan;
  scan.config.models = std::move(models);
  scan.errors = std::move(errors);
  return scan;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : engine_(std::move(Engine::Create({}, &clock_, &core_)).value()) {}

  std::vector<std::string> Versions(const std::string& model) {
    std::vector<std::string> out;
    const ServedModel* m = engine_->table()->Find(model);
    for (const auto& v : m ? m->versions : std::vector<std::shared_ptr<ModelVersion>>{}) out.push_back(v->version);
    return out;
  }
  std::string State(const std::string& model, const std::string& version) {
    for (const ModelState& s : engine_->states()) {
      if (s.name == model && s.version == version) return s.state + (s.reason.empty() ? "" : ": " + s.reason);
    }
    return "none";
  }

  VirtualClock clock_;
  CoreRunner core_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, LoadsVersionsAndReusesUnchangedOnes) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"1"});
  EXPECT_EQ(State("svm", "1"), "READY");
  const ModelVersion* v1 = engine_->table()->Find("svm")->versions[0].get();

  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1, 2})}), {}, false).ok());
  EXPECT_EQ(Versions("svm"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(engine_->table()->Find("svm")->versions[0].get(), v1);  // unchanged: not reloaded
  EXPECT_FALSE(engine_->has_retired());

  // model.toml changed: every version reloads, the old ones retire.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {2}, /*fingerprint=*/7)}), {}, false).ok());
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"2"});
  EXPECT_TRUE(engine_->has_retired());
  engine_->Sweep();  // nothing refers to them and they are idle
  EXPECT_FALSE(engine_->has_retired());
}

TEST_F(EngineTest, AFailedReloadLeavesTheOldVersionServing) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  ModelConfig broken = Simulated("svm", {});
  Status s = engine_->Apply(
      Scan({}, {{"svm", 2, "house/svm/2/simulated.toml:1:1: unknown key 'bse_ms'"},
                {"svm", 0, "house/svm: no loadable version"}}),
      {}, true);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"1"});
  EXPECT_EQ(State("svm", "2"), "UNAVAILABLE: house/svm/2/simulated.toml:1:1: unknown key 'bse_ms'");
  EXPECT_EQ(State("svm", "1"), "READY: the reload failed; serving what was loaded before");
}

// A version that served and whose files then break keeps serving as loaded.
TEST_F(EngineTest, AVersionWhoseReloadFailsKeepsServing) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1, 2})}), {}, false).ok());
  const ModelVersion* v2 = engine_->table()->Find("svm")->versions[1].get();
  Status s = engine_->Apply(Scan({Simulated("svm", {1})}, {{"svm", 2, "house/svm/2/simulated.toml:1:11: bad"}}), {}, true);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);  // reported, and yet serving
  EXPECT_EQ(Versions("svm"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(engine_->table()->Find("svm")->versions[1].get(), v2);
  EXPECT_EQ(State("svm", "2"),
            "READY: the reload failed (house/svm/2/simulated.toml:1:11: bad); serving what was loaded before");
  EXPECT_EQ(State("svm", "1"), "READY");
}

TEST_F(EngineTest, PollRemovesModelsGoneFromTheHouseExplicitLoadTouchesOneModel) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1}), Simulated("bayes", {1})}), {}, false).ok());
  // Explicit load of bayes: svm's absence from the scan does not matter.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("bayes", {1, 2})}), "bayes", false).ok());
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"1"});
  EXPECT_EQ(Versions("bayes"), (std::vector<std::string>{"1", "2"}));
  // Poll: svm is gone from the house.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("bayes", {1, 2})}), {}, true).ok());
  EXPECT_EQ(engine_->table()->Find("svm"), nullptr);
  EXPECT_EQ(State("svm", ""), "UNAVAILABLE: unloaded");
}

TEST_F(EngineTest, RetiredVersionsLiveWhileATryHoldsTheirTable) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  std::shared_ptr<const ModelTable> held = engine_->table();  // as a pending try does
  ASSERT_TRUE(engine_->Unload("svm").ok());
  EXPECT_EQ(engine_->table()->Find("svm"), nullptr);
  engine_->Sweep();
  EXPECT_TRUE(engine_->has_retired());
  ASSERT_NE(held->Find("svm")->versions[0]->batcher, nullptr);  // still usable
  held.reset();
  engine_->Sweep();
  EXPECT_FALSE(engine_->has_retired());
  EXPECT_EQ(engine_->Unload("svm").code(), StatusCode::kNotFound);
}

TEST_F(EngineTest, MixesServeByName) {
  ModelConfig mix;
  mix.name = "mix1";
  mix.backend = kMixBackend;
  mix.members = {"svm", "bayes"};
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1}), Simulated("bayes", {1}), mix}), {}, false).ok());
  const ServedModel* m = engine_->table()->Find("mix1");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->is_mix());
  EXPECT_EQ(State("mix1", ""), "READY");
}


// Hot plug through the engine: the version, its batcher and what it learned
// stay; a try after the change is served by the new replica count.
TEST_F(EngineTest, ReplicasChangeWhileServingWithoutAReload) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  const ModelVersion* v1 = engine_->table()->Find("svm")->versions[0].get();
  v1->batcher->service_times().Observe(1, Millis(7), clock_.Now());
  ASSERT_TRUE(engine_->models().SetReplicas("svm", 3).ok());
  EXPECT_EQ(engine_->table()->Find("svm")->versions[0].get(), v1);
  EXPECT_EQ(v1->batcher->serving_replicas(), 3);
  EXPECT_EQ(v1->executor->replicas(), 3);
  EXPECT_EQ(v1->batcher->service_times().observations(), 1);
  ASSERT_TRUE(engine_->models().SetReplicas("svm", 1).ok());
  EXPECT_EQ(v1->batcher->serving_replicas(), 1);
  EXPECT_EQ(v1->batcher->replicas_in(ReplicaState::kRemoved), 2);  // idle: removed at once
  EXPECT_EQ(engine_->models().SetReplicas("nope", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(engine_->models().SetReplicas("svm", -1).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(engine_->has_retired());
}

// A try goes through the core runner and is answered on the virtual clock.
TEST_F(EngineTest, ATryIsAnsweredOnTheVirtualClock) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  TryRequest request;
  ASSERT_TRUE(engine_->table()->AddCandidate("svm", {}, std::nullopt, &request).ok());
  request.inputs = std::make_shared<const Inputs>(Inputs{"a question", {}});
  request.tloc = Millis(50);
  request.owner = engine_->table();
  std::optional<TryResult> result;
  ASSERT_TRUE(engine_->Submit("inst", "", std::move(request), [&](TryResult r) { result = std::move(r); }).ok());
  EXPECT_EQ(engine_->pending(), 1u);
  clock_.Advance(Millis(5));  // the simulated model's base
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->answer.has_value());
  EXPECT_EQ(result->model, "svm");
  EXPECT_EQ(engine_->pending(), 0u);
  EXPECT_EQ(result->elapsed, Millis(5));
}

}  // namespace
}  // namespace tbms
