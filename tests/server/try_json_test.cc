// The JSON edge of /try: what a body becomes, what a result looks like, and
// the error each bad field gets. (The HTTP status of each error is checked
// end to end in tests/e2e/test_serve.py.)
#include "tbms/server/try_json.h"

#include <gtest/gtest.h>

#include <map>

#include "tbms/broker/broker.h"

namespace tbms {
namespace {

// A table of served models without executors: parsing only needs names,
// versions and estimates.
void Serve(ModelTable& table, const std::string& name, double est_ms, std::vector<std::string> versions,
           std::map<int64_t, int> weights = {}) {
  auto config = std::make_shared<ModelConfig>();
  config->name = name;
  config->backend = "simulated";
  config->est = Millis(est_ms);
  config->weights = std::move(weights);
  std::vector<std::shared_ptr<ModelVersion>> served;
  for (const std::string& v : versions) {
    auto version = std::make_shared<ModelVersion>();
    version->name = name;
    version->version = v;
    served.push_back(version);
  }
  table.models[name].Assign(config, served);
}

void ServeMix(ModelTable& table, const std::string& name, std::vector<std::string> members, Aggregator agg) {
  auto config = std::make_shared<ModelConfig>();
  config->name = name;
  config->backend = kMixBackend;
  config->members = std::move(members);
  config->aggregator = agg;
  table.models[name].Assign(config, {});
}

class TryJsonTest : public ::testing::Test {
 protected:
  TryJsonTest() : table_(std::make_shared<ModelTable>()) {
    Serve(*table_, "svm", 25, {"1"});
    Serve(*table_, "bayes", 15, {"1", "2"});
    ServeMix(*table_, "mix2", {"bayes", "svm"}, Aggregator::kAvg);
    ServeMix(*table_, "mix3", {"mix2", "svm"}, Aggregator::kMax);
    InstanceConfig qa;
    qa.name = "nianjianQA";
    TaskConfig task;
    task.name = "qa";
    task.models = {"svm", "bayes"};
    task.tloc = Millis(50);
    task.cross_request = 1;
    task.cross_lag = Millis(10);
    qa.tasks.emplace("qa", task);
    auto access = std::make_shared<HouseAccess>();
    access->instances.push_back(qa);
    access->declared = true;
    table_->access = std::move(access);
  }
  StatusOr<ParsedTry> Parse(std::string_view body, const TryLimits& limits = {}) {
    return ParseTryRequest(body, table_, "nianjianQA", limits);
  }
  Status Error(std::string_view body) { return Parse(body).status(); }

  std::shared_ptr<ModelTable> table_;
};

// The edge accepts every try the broker's limits allow (tbms/broker/limits.h)
// and refuses one past them: the bounds are the broker's, not the edge's own.
TEST_F(TryJsonTest, BoundsAreTheBrokersLimits) {
  const std::string models = R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], )";
  const std::string at_max = models + "\"tloc\": " + std::to_string(limits::kMaxTlocMs) +
                             ", \"crossRequest\": " + std::to_string(limits::kMaxCrossRequest) +
                             ", \"crossLag\": " + std::to_string(limits::kMaxCrossLagMs) +
                             ", \"priority\": " + std::to_string(-limits::kMaxPriority) + "}";
  auto parsed = Parse(at_max);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->request.tloc, limits::kMaxTloc);
  EXPECT_EQ(parsed->request.cross_request, limits::kMaxCrossRequest);
  EXPECT_EQ(parsed->request.cross_lag, limits::kMaxCrossLag);
  EXPECT_EQ(parsed->request.priority, -limits::kMaxPriority);
  const std::string past[] = {
      "\"tloc\": " + std::to_string(limits::kMaxTlocMs + 1),
      "\"tloc\": 5, \"crossRequest\": " + std::to_string(limits::kMaxCrossRequest + 1),
      "\"tloc\": 5, \"crossLag\": " + std::to_string(limits::kMaxCrossLagMs + 1),
      "\"tloc\": 5, \"priority\": " + std::to_string(limits::kMaxPriority + 1),
  };
  for (const std::string& fields : past) {
    EXPECT_EQ(Error(models + fields + "}").code(), StatusCode::kInvalidArgument) << fields;
  }
  EXPECT_EQ(TryLimits{}.max_candidates, limits::kMaxCandidates);
  EXPECT_EQ(Broker::Options{}.max_candidates, limits::kMaxCandidates);
}

TEST_F(TryJsonTest, ParsesAFullRequest) {
  auto parsed = Parse(
      R"({"inputs": {"question": "why?", "lang": "en"}, "models": [{"name": "svm", "est": 20},
          {"name": "bayes", "version": "1"}], "tloc": 50.5, "crossRequest": 1, "crossLag": 10,
          "priority": -3})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const TryRequest* r = &parsed->request;
  EXPECT_EQ(r->inputs->question, "why?");
  ASSERT_EQ(r->candidates.size(), 2u);
  EXPECT_EQ(r->candidates[0].name, "svm");
  EXPECT_EQ(r->members[0].est, Millis(20));
  EXPECT_EQ(r->members[1].est, Millis(15));  // the model's default
  EXPECT_EQ(r->tloc, Duration(50500));
  EXPECT_EQ(r->cross_request, 1);
  EXPECT_EQ(r->cross_lag, Millis(10));
  EXPECT_EQ(r->priority, -3);
  EXPECT_EQ(r->candidates[1].version, "1");  // pinned
  EXPECT_NE(r->owner, nullptr);              // holds the table
}

TEST_F(TryJsonTest, DefaultsForOptionalFields) {
  auto parsed = Parse(R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5})");
  ASSERT_TRUE(parsed.ok());
  const TryRequest* r = &parsed->request;
  EXPECT_EQ(r->cross_request, 0);
  EXPECT_EQ(r->cross_lag, Duration(0));
  EXPECT_EQ(r->priority, 0);
}

TEST_F(TryJsonTest, ErrorsNameTheField) {
  struct Case {
    std::string body;
    StatusCode code;
    std::string message;
  };
  const Case cases[] = {
      {"{", StatusCode::kInvalidArgument, "malformed JSON"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "hedge": "sometimes"})",
       StatusCode::kInvalidArgument, "hedge must be \"at_risk\" or \"expected\""},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "hedge": 1})",
       StatusCode::kInvalidArgument, "hedge must be a string"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "x": )" + std::string(40, '[') +
           std::string(40, ']') + "}",
       StatusCode::kInvalidArgument, "JSON is nested deeper than 32 levels"},
      {"3", StatusCode::kInvalidArgument, "the body must be a JSON object"},
      {R"({"models": [{"name": "svm"}], "tloc": 5})", StatusCode::kInvalidArgument, "inputs is required"},
      {R"({"inputs": {"question": "q"}, "tloc": 5})", StatusCode::kInvalidArgument,
       "models is required (or mixes, or a task)"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}]})", StatusCode::kInvalidArgument,
       "tloc is required"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "nn"}], "tloc": 5})", StatusCode::kNotFound,
       "unknown model 'nn'"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm", "version": "2"}], "tloc": 5})",
       StatusCode::kNotFound, "model 'svm' has no version '2' loaded"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 0})",
       StatusCode::kInvalidArgument, "tloc must be in (0, 600000] ms, got 0"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 700000})",
       StatusCode::kInvalidArgument, "tloc must be in (0, 600000] ms, got 700000"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 600000.0000001})",
       StatusCode::kInvalidArgument, "tloc must be in (0, 600000] ms, got 600000.0000001"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 1e309})",
       StatusCode::kInvalidArgument, "a number in the JSON is malformed or out of range"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "tloc": 6})",
       StatusCode::kInvalidArgument, "duplicate field 'tloc'"},
      {R"({"inputs": {"question": "q", "question": "r"}, "models": [{"name": "svm"}], "tloc": 5})",
       StatusCode::kInvalidArgument, "inputs: duplicate field 'question'"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm", "name": "bayes"}], "tloc": 5})",
       StatusCode::kInvalidArgument, "models[0]: duplicate field 'name'"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": ")" + std::string(5000, 'n') + R"("}], "tloc": 5})",
       StatusCode::kNotFound, "unknown model '" + std::string(128, 'n') + "' (5000 bytes, cut)"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "crossRequest": 17})",
       StatusCode::kInvalidArgument, "crossRequest must be in [0, 16]"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "priority": "hi"})",
       StatusCode::kInvalidArgument, "priority must be an integer"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "mode": 1})",
       StatusCode::kInvalidArgument, "unknown field 'mode'"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "task": "qa"})",
       StatusCode::kInvalidArgument, "give one of models, mixes and task"},
      {R"({"inputs": {"question": "q"}, "task": "chat"})", StatusCode::kNotFound,
       "instance 'nianjianQA' has no task 'chat'"},
      {R"({"inputs": {"question": "q"}, "task": 3})", StatusCode::kInvalidArgument, "task must be a string"},
      {R"({"inputs": {"question": "q"}, "mixes": [], "tloc": 5})", StatusCode::kInvalidArgument,
       "mixes must not be empty"},
      {R"({"inputs": {"question": "q"}, "mixes": [{"members": [{"name": "svm"}], "aggregator": "max"}],
          "tloc": 5})", StatusCode::kInvalidArgument, "mixes[0].name is required"},
      {R"({"inputs": {"question": "q"}, "mixes": [{"name": "m", "aggregator": "max"}], "tloc": 5})",
       StatusCode::kInvalidArgument, "mixes[0].members is required"},
      {R"({"inputs": {"question": "q"}, "mixes": [{"name": "m", "members": [{"name": "svm"}]}], "tloc": 5})",
       StatusCode::kInvalidArgument, "mixes[0].aggregator is required (max, avg or vote)"},
      {R"({"inputs": {"question": "q"}, "mixes": [{"name": "m", "members": [{"name": "svm"}],
          "aggregator": "median"}], "tloc": 5})", StatusCode::kInvalidArgument,
       "mixes[0].aggregator: unknown aggregator 'median' (expected max, avg or vote)"},
      {R"({"inputs": {"question": "q"}, "mixes": [{"name": "m", "members": [{"name": "nn"}],
          "aggregator": "max"}], "tloc": 5})", StatusCode::kNotFound, "unknown model 'nn'"},
      {R"({"inputs": {"question": "q"}, "mixes": [{"name": "m", "members": [], "aggregator": "max"}],
          "tloc": 5})", StatusCode::kInvalidArgument, "mixes[0].members must be an array of 1-32 models"},
      {R"({"inputs": {"question": "q"}, "mixes": [{"name": "m", "members": [{"name": "svm", "x": 1}],
          "aggregator": "max"}], "tloc": 5})", StatusCode::kInvalidArgument,
       "mixes[0].members[0]: unknown field 'x' (expected name, est, version)"},
      {R"({"inputs": {"question": ""}, "models": [{"name": "svm"}], "tloc": 5})", StatusCode::kInvalidArgument,
       "inputs.question must not be empty"},
      {"{\"inputs\": {\"question\": \"\xff\"}, \"models\": [{\"name\": \"svm\"}], \"tloc\": 5}",
       StatusCode::kInvalidArgument, "malformed JSON"},  // not UTF-8
      {R"({"inputs": [], "models": [{"name": "svm"}], "tloc": 5})", StatusCode::kInvalidArgument,
       "inputs must not be empty"},
      {R"({"inputs": [{"name": "question", "datatype": "BYTES", "shape": [2], "data": ["a"]}],
          "models": [{"name": "svm"}], "tloc": 5})", StatusCode::kInvalidArgument, "inputs[0].data"},
      {R"({"inputs": {"question": "q"}, "models": [{"name": "mix2", "version": "1"}], "tloc": 5})",
       StatusCode::kInvalidArgument, "mix 'mix2' has no versions"},
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
  auto r = Parse(R"({"inputs": {"question": "hello"}, "models": [{"name": "svm"}], "tloc": 5})", limits);
  EXPECT_EQ(r.status().message(), "inputs.question is longer than 4 bytes");
}

TEST_F(TryJsonTest, ATaskGivesCandidatesAndDefaultsTheTryMayOverride) {
  auto parsed = Parse(R"({"inputs": {"question": "q"}, "task": "qa", "crossLag": 5})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const TryRequest& r = parsed->request;
  EXPECT_EQ(parsed->task, "qa");
  ASSERT_EQ(r.candidates.size(), 2u);
  EXPECT_EQ(r.candidates[0].name, "svm");
  EXPECT_EQ(r.members[1].est, Millis(15));  // bayes's own est
  EXPECT_EQ(r.tloc, Millis(50));
  EXPECT_EQ(r.cross_request, 1);
  EXPECT_EQ(r.cross_lag, Millis(5));  // the try's
  EXPECT_EQ(r.hedge, Hedge::kAtRisk);  // the default, as the task gives no other
}

TEST_F(TryJsonTest, ATryChoosesItsHedge) {
  auto parsed = Parse(R"({"inputs": {"question": "q"}, "task": "qa", "hedge": "expected"})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->request.hedge, Hedge::kExpected);
  parsed = Parse(R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}], "tloc": 5, "hedge": "at_risk"})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->request.hedge, Hedge::kAtRisk);
}

TEST_F(TryJsonTest, HouseMixesExpandIntoStepsAndNest) {
  auto parsed = Parse(R"({"inputs": {"question": "q"}, "models": [{"name": "mix3"}, {"name": "svm"}], "tloc": 50})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const TryRequest& r = parsed->request;
  ASSERT_EQ(r.candidates.size(), 2u);
  const Candidate& mix = r.candidates[0];
  EXPECT_EQ(mix.name, "mix3");
  EXPECT_TRUE(mix.is_mix());
  EXPECT_EQ(mix.count, 3);  // bayes, svm (of mix2), svm
  // Postfix: bayes svm avg(2) svm max(2)
  ASSERT_EQ(mix.steps_count, 5);
  const MixStep* s = &r.mix_steps[mix.steps_first];
  EXPECT_EQ(s[0].kind, MixStep::kMember);
  EXPECT_EQ(s[0].value, 0);
  EXPECT_EQ(s[1].value, 1);
  EXPECT_EQ(s[2].kind, MixStep::kCombine);
  EXPECT_EQ(s[2].aggregator, Aggregator::kAvg);
  EXPECT_EQ(s[2].value, 2);
  EXPECT_EQ(s[3].value, 2);
  EXPECT_EQ(s[4].aggregator, Aggregator::kMax);
  EXPECT_EQ(r.members[0].est, Millis(15));
  EXPECT_FALSE(r.candidates[1].is_mix());
}

TEST_F(TryJsonTest, AdHocMixesOwnTheirNames) {
  auto parsed = Parse(R"({"inputs": {"question": "q"}, "mixes": [
      {"name": "fast", "members": [{"name": "bayes", "est": 12}, {"name": "mix2"}], "aggregator": "vote"},
      {"name": "one", "members": [{"name": "svm"}], "aggregator": "max"}], "tloc": 50})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  TryRequest r = std::move(parsed->request);
  ASSERT_EQ(r.candidates.size(), 2u);
  EXPECT_EQ(r.candidates[0].name, "fast");
  EXPECT_EQ(r.candidates[0].count, 3);
  EXPECT_EQ(r.members[0].est, Millis(12));
  EXPECT_EQ(r.candidates[1].name, "one");
  EXPECT_TRUE(r.candidates[1].is_mix());
}

TEST_F(TryJsonTest, TensorInputsCarryTheQuestion) {
  auto parsed = Parse(R"({"inputs": [{"name": "question", "datatype": "BYTES", "shape": [1], "data": ["why?"]},
      {"name": "x", "datatype": "FP32", "shape": [2], "data": [1.5, 2]}], "models": [{"name": "svm"}], "tloc": 5})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const Inputs& in = *parsed->request.inputs;
  EXPECT_EQ(in.question, "why?");
  ASSERT_EQ(in.tensors.size(), 2u);
  EXPECT_EQ(in.tensors[1].Values<float>()[0], 1.5f);
}

TEST_F(TryJsonTest, TensorInputsNeedOneNonEmptyQuestion) {
  const std::pair<std::string, std::string> cases[] = {
      {R"([{"name": "q", "datatype": "BYTES", "shape": [1], "data": ["why?"]}])",
       "inputs needs a tensor named 'question' (BYTES, one element)"},
      {R"([{"name": "question", "datatype": "FP32", "shape": [1], "data": [1]}])",
       "inputs 'question' must be one BYTES element, not FP32 [1]"},
      {R"([{"name": "question", "datatype": "BYTES", "shape": [2], "data": ["a", "b"]}])",
       "inputs 'question' must be one BYTES element, not BYTES [2]"},
      {R"([{"name": "question", "datatype": "BYTES", "shape": [0], "data": []}])",
       "inputs 'question' must be one BYTES element, not BYTES [0]"},
      {R"([{"name": "question", "datatype": "BYTES", "shape": [1], "data": [""]}])",
       "inputs 'question' must not be empty"},
      {R"([{"name": "question", "datatype": "BYTES", "shape": [1], "data": ["a"]},
           {"name": "question", "datatype": "BYTES", "shape": [1], "data": ["b"]}])",
       "inputs has two tensors named 'question'"},
  };
  for (const auto& [inputs, message] : cases) {
    const Status s = Error(R"({"inputs": )" + inputs + R"(, "models": [{"name": "svm"}], "tloc": 5})");
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << inputs;
    EXPECT_EQ(s.message(), message) << inputs;
  }
}

TEST_F(TryJsonTest, ASplitRoutesExactlyInProportion) {
  Serve(*table_, "ab", 10, {"1", "2"}, {{1, 90}, {2, 10}});
  std::map<std::string, int> counts;
  for (int i = 0; i < 1000; ++i) {
    auto parsed = Parse(R"({"inputs": {"question": "q"}, "models": [{"name": "ab"}], "tloc": 5})");
    ASSERT_TRUE(parsed.ok());
    ++counts[std::string(parsed->request.candidates[0].version)];
  }
  EXPECT_EQ(counts["1"], 900);
  EXPECT_EQ(counts["2"], 100);
}

TEST_F(TryJsonTest, WithoutWeightsTheLatestVersionServes) {
  auto parsed = Parse(R"({"inputs": {"question": "q"}, "models": [{"name": "bayes"}], "tloc": 5})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->request.candidates[0].version, "2");
}

TEST_F(TryJsonTest, WritesAResult) {
  TryResult r;
  r.answer = R"("svm says \"hi\"")";
  r.rank = 1;
  r.model = "svm";
  r.downgraded = true;
  r.reason = Reason::kPredictedLate;
  r.elapsed = Duration(25'125);
  r.version = "2";
  r.attempts.push_back({"embedding", "1", 0, AttemptState::kSkipped, Duration(0), Duration(0), {}});
  r.attempts.push_back({"svm", "2", 1, AttemptState::kSucceeded, Duration(10), Duration(25'000), {}});
  std::string out;
  WriteTryResult(r, out);
  EXPECT_EQ(out,
            R"({"answer":"svm says \"hi\"","model":"svm","version":"2","rank":1,"downgraded":true,)"
            R"("reason":"predicted_late","elapsed_ms":25.125,"attempts":[)"
            R"({"model":"embedding","version":"1","rank":0,"state":"skipped","started_ms":0,"latency_ms":0},)"
            R"({"model":"svm","version":"2","rank":1,"state":"succeeded","started_ms":0.01,"latency_ms":25}]})");
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

namespace tbms {
namespace {

// An instance that lists its models may name only those; a house mix it
// lists opens its members through the mix, not one by one.
TEST_F(TryJsonTest, AnInstanceUsesOnlyItsModels) {
  auto access = std::make_shared<HouseAccess>(*table_->access);
  InstanceConfig narrow;
  narrow.name = "narrow";
  narrow.models = {"svm", "mix2"};
  access->instances.push_back(narrow);
  table_->access = std::move(access);
  auto parse = [&](std::string_view body) { return ParseTryRequest(body, table_, "narrow"); };
  EXPECT_TRUE(parse(R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}, {"name": "mix2"}], "tloc": 5})").ok());
  const std::string_view denied[] = {
      R"({"inputs": {"question": "q"}, "models": [{"name": "svm"}, {"name": "bayes"}], "tloc": 5})",
      R"({"inputs": {"question": "q"}, "models": [{"name": "mix3"}], "tloc": 5})",
      R"({"inputs": {"question": "q"}, "mixes": [{"name": "m", "aggregator": "max",
          "members": [{"name": "svm"}, {"name": "bayes"}]}], "tloc": 5})",
  };
  for (std::string_view body : denied) {
    auto got = parse(body);
    ASSERT_FALSE(got.ok()) << body;
    EXPECT_EQ(got.status().code(), StatusCode::kPermissionDenied) << body;
    EXPECT_NE(got.status().message().find("instance 'narrow' may not use model '"), std::string::npos)
        << got.status().message();
  }
  // Another instance's task is not this one's.
  auto task = parse(R"({"inputs": {"question": "q"}, "task": "qa"})");
  EXPECT_EQ(task.status().code(), StatusCode::kNotFound);
  // What the list may set running: mix2 opens its members.
  EXPECT_EQ(table_->WithMembers({"svm", "mix2"}), (std::vector<std::string>{"svm", "mix2", "bayes"}));
  EXPECT_EQ(table_->WithMembers({"mix3"}), (std::vector<std::string>{"mix3", "mix2", "bayes", "svm"}));
  // An instance without a list may name any model.
  EXPECT_TRUE(Parse(R"({"inputs": {"question": "q"}, "models": [{"name": "bayes"}], "tloc": 5})").ok());
}

}  // namespace
}  // namespace tbms
