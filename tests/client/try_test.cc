#include "tbms/client/try.h"

#include <gtest/gtest.h>

namespace tbms::client {
namespace {

TEST(TryBodyTest, RankedModelsWithEveryOption) {
  const TryRequest r{.question = "what is a broker?",
                     .models = {{"embedding", 35}, {"svm", std::nullopt, "2"}},
                     .tloc_ms = 50, .cross_request = 1, .cross_lag_ms = 10, .priority = -3,
                     .hedge = "expected"};
  EXPECT_EQ(TryBody(r),
            R"({"inputs":{"question":"what is a broker?"},"models":[{"name":"embedding","est":35},)"
            R"({"name":"svm","version":"2"}],"tloc":50,"crossRequest":1,"crossLag":10,"priority":-3,"hedge":"expected"})");
}

TEST(TryBodyTest, MixesAndTasksLeaveUnsetOptionsToTheServer) {
  const TryRequest mixes{.question = "q",
                         .mixes = {{"mix1", {{"embedding", 35}, {"svm", 25}}, "max"}, {"mix2", {{"bayes"}}, "vote"}},
                         .tloc_ms = 50};
  EXPECT_EQ(TryBody(mixes),
            R"({"inputs":{"question":"q"},"mixes":[{"name":"mix1","members":[{"name":"embedding","est":35},)"
            R"({"name":"svm","est":25}],"aggregator":"max"},{"name":"mix2","members":[{"name":"bayes"}],)"
            R"("aggregator":"vote"}],"tloc":50})");
  EXPECT_EQ(TryBody({.question = "q", .task = "qa"}), R"({"inputs":{"question":"q"},"task":"qa"})");
}

TEST(TryTargetTest, NamesTheInstance) { EXPECT_EQ(TryTarget("nianjianQA"), "/v1/instances/nianjianQA/try"); }

TEST(ParseTryResultTest, NoAnswerKeepsTheReason) {
  auto r = ParseTryResult(
      R"({"answer": null, "model": null, "rank": null, "downgraded": false, "reason": "infeasible",
          "elapsed_ms": 0.01, "attempts": []})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->answer, std::nullopt);
  EXPECT_EQ(r->answer_text, "");
  EXPECT_EQ(r->model, "");
  EXPECT_EQ(r->rank, -1);
  EXPECT_EQ(r->reason, "infeasible");
  EXPECT_TRUE(r->attempts.empty());
}

TEST(ParseTryResultTest, AJsonAnswerIsKeptAsJsonText) {
  auto r = ParseTryResult(R"({"answer": {"label": "b", "p": [0.5, 1]}, "model": "bayes", "rank": 0,
                              "reason": null, "elapsed_ms": 3})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->answer, R"({"label":"b","p":[0.5,1]})");
  EXPECT_EQ(r->answer_text, *r->answer);
  EXPECT_EQ(r->reason, "");
  EXPECT_FALSE(r->downgraded);
}

TEST(ParseTryResultTest, RefusesABodyWithoutAnAnswer) {
  for (const char* body : {"", "not json", "[1]", R"({"model": "svm"})"}) {
    auto r = ParseTryResult(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  }
}

}  // namespace
}  // namespace tbms::client
