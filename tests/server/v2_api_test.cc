// The typed v2 calls behind the HTTP edge: the canonical code of each
// refusal (the HTTP statuses they map to are checked end to end in
// tests/e2e/test_house.py), readiness, metadata with labels, and an infer
// that keeps to the table snapshot its request took.
#include "tbms/server/v2_api.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>

#include "simulated_model.h"
#include "tbms/common/virtual_clock.h"

namespace tbms {
namespace {

// svm with labels and the house reader's default tensors.
ModelConfig Svm() {
  ModelConfig m = server_test::Simulated("svm", {1, 2});
  m.labels = {{"team", "search"}};
  m.inputs = {{"question", DataType::kBytes, {1}}};
  m.outputs = {{"answer", DataType::kBytes, {1}}};
  return m;
}

class V2ApiTest : public ::testing::Test {
 protected:
  V2ApiTest()
      : engine_(std::move(Engine::Create({}, &clock_, &core_)).value()),
        api_({}, engine_.get(), nullptr, ioc_.get_executor()) {
    HouseScan scan;
    scan.config.models = {Svm()};
    scan.errors = {{"bad", 0, "house/bad/model.toml:1:1: broken"}};
    InstanceConfig qa;
    qa.name = "qa";
    qa.models = {"svm"};
    scan.config.instances = {qa};
    const Status applied = engine_->Apply(scan, {}, false);  // serves svm, reports bad
    EXPECT_NE(applied.message().find("broken"), std::string::npos) << applied.ToString();
    EXPECT_NE(engine_->table()->Find("svm"), nullptr);
  }

  boost::asio::io_context ioc_;  // where replies are written
  VirtualClock clock_;
  CoreRunner core_;
  std::unique_ptr<Engine> engine_;
  V2Api api_;
  const Caller admin_ = Caller::Anyone();
};

TEST_F(V2ApiTest, FindGivesACanonicalCodeForEachRefusal) {
  const auto table = engine_->table();
  EXPECT_TRUE(api_.Find(admin_, *table, "svm", "").ok());
  EXPECT_EQ(api_.Find(admin_, *table, "svm", "2")->version, "2");
  EXPECT_EQ(api_.Find(admin_, *table, "nope", "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(api_.Find(admin_, *table, "svm", "9").status().code(), StatusCode::kNotFound);
  const Status bad = api_.Find(admin_, *table, "bad", "").status();
  EXPECT_EQ(bad.code(), StatusCode::kUnavailable);
  EXPECT_NE(bad.message().find("is not ready"), std::string::npos) << bad.message();
  const Caller qa{false, "qa"};
  EXPECT_TRUE(api_.Find(qa, *table, "svm", "").ok());
  EXPECT_EQ(api_.Find(qa, *table, "bad", "").status().code(), StatusCode::kPermissionDenied);
}

TEST_F(V2ApiTest, ReadinessSaysWhyNot) {
  const auto table = engine_->table();
  EXPECT_TRUE(api_.Ready(admin_, *table, "svm", "1")->ready);
  const StatusOr<ModelReadiness> no_version = api_.Ready(admin_, *table, "svm", "9");
  ASSERT_TRUE(no_version.ok());
  EXPECT_FALSE(no_version->ready);
  EXPECT_EQ(no_version->reason, "model 'svm' has no version '9' loaded");
  ASSERT_TRUE(api_.Ready(admin_, *table, "bad", "").ok());
  EXPECT_FALSE(api_.Ready(admin_, *table, "bad", "")->ready);
  EXPECT_EQ(api_.Ready(admin_, *table, "nope", "").status().code(), StatusCode::kNotFound);
}

TEST_F(V2ApiTest, MetadataCarriesTheLabels) {
  const auto table = engine_->table();
  const ModelMetadata m = V2Api::Metadata(*api_.Find(admin_, *table, "svm", ""));
  EXPECT_EQ(m.name, "svm");
  EXPECT_EQ(m.versions, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(m.platform, "tbms_simulated");
  EXPECT_EQ(m.labels, (std::map<std::string, std::string>{{"team", "search"}}));
  EXPECT_EQ(V2Api::Metadata(*api_.Find(admin_, *table, "svm", "2")).versions, std::vector<std::string>{"2"});
}

TEST_F(V2ApiTest, TheRepositoryNeedsAnAdmin) {
  EXPECT_EQ(api_.Index(Caller{false, "qa"}).status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(api_.Index(admin_).ok());
  std::optional<Status> loaded;
  api_.Load(admin_, "svm", [&](Status s) { loaded = s; });
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(loaded->code(), StatusCode::kFailedPrecondition);  // no house
}

// An infer uses the snapshot its request took, even when the served table
// has moved on since (here: the model was unloaded in between).
TEST_F(V2ApiTest, AnInferKeepsToItsRequestsSnapshot) {
  const std::shared_ptr<const ModelTable> table = engine_->table();
  StatusOr<ModelRef> svm = api_.Find(admin_, *table, "svm", "");
  ASSERT_TRUE(svm.ok());
  ASSERT_TRUE(engine_->Unload("svm").ok());
  ASSERT_EQ(engine_->table()->Find("svm"), nullptr);

  InferRequest request;
  request.tloc = Millis(5000);
  Tensor question{"question", DataType::kBytes, {1}, {}};
  question.AppendString("q");
  request.inputs.push_back(std::move(question));
  std::optional<StatusOr<InferResponse>> got;
  api_.Infer(admin_, table, *svm, std::move(request), [&](StatusOr<InferResponse> r) { got = std::move(r); });
  for (int i = 0; i < 100 && !got; ++i) {
    clock_.Advance(Millis(1));
    ioc_.restart();  // poll stops the context whenever it runs out of work
    ioc_.poll();
  }
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(got->ok()) << got->status().ToString();
  EXPECT_EQ((*got)->model_name, "svm");
}

}  // namespace
}  // namespace tbms
