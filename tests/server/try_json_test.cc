// The JSON edge of /try: what a body becomes, what a result looks like, and
// the error each bad field gets. (The HTTP status of each error is checked
// end to end in tests/e2e/test_serve.py.)
#include "tbms/server/try_json.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

class TryJsonTest : public ::testing::Test {
 protected:
  TryJsonTest() {
    svm_.name = "svm";
    svm_.default_est = Millis(25);
    bayes_.name = "bayes";
    bayes_.default_est = Millis(15);
  }
  FindModelFn Find() {
    return [this](std::string_view name) -> const ModelEntry* {
      if (name == "svm") return &svm_;
      if (name == "bayes") return &bayes_;
      return nullptr;
    };
  }
  Status Error(std::string_view body) { return ParseTryRequest(body, Find()).status(); }

  ModelEntry svm_, bayes_;
};

TEST_F(TryJsonTest, ParsesAFullRequest) {
  auto r = ParseTryRequest(
      R"({"inputs": {"question": "why?", "lang": "en"}, "models": [{"name": "svm", "est": 20},
          {"name": "bayes", "version": "1"}], "tloc": 50.5, "crossRequest": 1, "crossLag": 10,
          "priority": -3})",
      Find());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->inputs->question, "why?");
  ASSERT_EQ(r->candidates.size(), 2u);
  EXPECT_EQ(r->candidates[0].name, "svm");
  EXPECT_EQ(r->members[0].est, Millis(20));
  EXPECT_EQ(r->members[1].est, Millis(15));  // the model's default
  EXPECT_EQ(r->tloc, Duration(50500));
  EXPECT_EQ(r->cross_request, 1);
  EXPECT_EQ(r->cross_lag, Millis(10));
  EXPECT_EQ(r->priority, -3);
}

TEST_F(TryJsonTest, DefaultsForOptionalFields) {
  auto r = ParseTryRequest(R"({"inputs": {"question": ""}, "models": [{"name": "svm"}], "tloc": 5})",
                           Find());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->cross_request, 0);
  EXPECT_EQ(r->cross_lag, Duration(0));
  EXPECT_EQ(r->priority, 0);
}

TEST_F(TryJsonTest, ErrorsNameTheField) {
  struct Case {
    const char* body;
    StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {"{", StatusCode::kInvalidArgument, "malformed JSON"},
      {"3", StatusCode::kInvalidArgument, "the body must be a JSON object"},
      {R"({"models": [{"name": "svm"}], "tloc": 5})", StatusCode::kInvalidArgument, "inputs is required"},
      {R"({"inputs": {"question": "q"}, "tloc": 5})", StatusCode::kInvalidArgument, "models is required"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}]})", StatusCode::kInvalidArgument,
       "tloc is required"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "nn"}], "tloc": 5})", StatusCode::kNotFound,
       "unknown model 'nn'"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm", "version": "2"}], "tloc": 5})",
       StatusCode::kNotFound, "model 'svm' has no version '2'"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 0})",
       StatusCode::kInvalidArgument, "tloc must be > 0"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 700000})",
       StatusCode::kInvalidArgument, "tloc must be in [0, 600000], got 700000"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "crossRequest": 17})",
       StatusCode::kInvalidArgument, "crossRequest must be in [0, 16]"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "priority": "hi"})",
       StatusCode::kInvalidArgument, "priority must be an integer"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "mixes": []})",
       StatusCode::kInvalidArgument, "unknown field 'mixes'"},
  };
  for (const Case& c : cases) {
    Status s = Error(c.body);
    EXPECT_EQ(s.code(), c.code) << c.body;
    EXPECT_NE(s.message().find(c.message), std::string::npos) << c.body << " -> " << s.message();
  }
}

TEST_F(TryJsonTest, QuestionLengthIsLimited) {
  TryLimits limits;
  limits.max_question_bytes = 4;
  auto r = ParseTryRequest(R"({"inputs": {"question": "hello"}, "models": [{"name": "svm"}], "tloc": 5})",
                           Find(), limits);
  EXPECT_EQ(r.status().message(), "inputs.question is longer than 4 bytes");
}

TEST_F(TryJsonTest, WritesAResult) {
  TryResult r;
  r.answer = R"("svm says \"hi\"")";
  r.rank = 1;
  r.model = "svm";
  r.downgraded = true;
  r.reason = Reason::kPredictedLate;
  r.elapsed = Duration(25'125);
  r.attempts.push_back({"embedding", 0, AttemptState::kSkipped, Duration(0), Duration(0)});
  r.attempts.push_back({"svm", 1, AttemptState::kSucceeded, Duration(10), Duration(25'000)});
  std::string out;
  WriteTryResult(r, out);
  EXPECT_EQ(out,
            R"({"answer":"svm says \"hi\"","model":"svm","rank":1,"downgraded":true,)"
            R"("reason":"predicted_late","elapsed_ms":25.125,"attempts":[)"
            R"({"model":"embedding","rank":0,"state":"skipped","started_ms":0,"latency_ms":0},)"
            R"({"model":"svm","rank":1,"state":"succeeded","started_ms":0.01,"latency_ms":25}]})");
}

TEST_F(TryJsonTest, WritesNoAnswer) {
  TryResult r;
  r.reason = Reason::kInfeasible;
  std::string out;
  WriteTryResult(r, out);
  EXPECT_EQ(out, R"({"answer":null,"model":null,"rank":null,"downgraded":false,)"
                 R"("reason":"infeasible","elapsed_ms":0,"attempts":[]})");
}

TEST(ErrorJsonTest, EscapesTheMessage) {
  EXPECT_EQ(ErrorJson("bad \"x\"\n"), R"({"error":"bad \"x\"\n"})");
}

}  // namespace
}  // namespace tbms
