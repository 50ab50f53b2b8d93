// The broker's rules (design brief section 3) on a virtual clock, with exact
// times. Models are simulated executors with a fixed service time, so the
// times below are the rules' own arithmetic.
#include "tbms/batching/batcher.h"
#include "tbms/broker/broker.h"

#include <gtest/gtest.h>

#include <map>
#include <optional>

#include "tbms/backends/simulated.h"
#include "tbms/common/virtual_clock.h"

namespace tbms {
namespace {

constexpr Duration kTick{1};

class BrokerTest : public ::testing::Test {
 protected:
  struct Model {
    std::unique_ptr<SimulatedExecutor> executor;
    std::unique_ptr<Batcher> batcher;
  };

  // The rules' own arithmetic trusts the ests (est_error 1) and hedges on
  // the est timer (hedge expected), as the design brief's worked example does; the safety net's room for wrong ests is
  // tested here by SafetyNet* and over random scenarios by broker_property_test.
  void SetUp() override {
    broker_ = std::move(Broker::Create({.est_error = 1}, &clock_)).value();
  }

  // A model whose every batch takes `actual_ms`, or fails when `fail`.
  void AddModel(const std::string& name, double actual_ms, bool fail = false, int replicas = 1) {
    SimulatedExecutor::Options so;
    so.model = name;
    so.base = Millis(actual_ms);
    so.failure_rate = fail ? 1.0 : 0.0;
    so.replicas = replicas;
    Model m;
    m.executor = std::move(SimulatedExecutor::Create(so, &clock_)).value();
    Batcher::Options bo;
    bo.model = name;
    bo.max_batch_size = 4;
    bo.drop_only_expired = baseline_batching_;
    m.batcher = std::move(Batcher::Create(bo, &clock_, m.executor.get(), broker_.get())).value();
    models_[name] = std::move(m);
  }

  // The talk's four models, with actual service times given per test.
  void AddTalkModels(double embedding, double svm, double bayes, double keysearch) {
    AddModel("embedding", embedding);
    AddModel("svm", svm);
    AddModel("bayes", bayes);
    AddModel("keysearch", keysearch);
  }

  TryRequest Request(std::vector<std::pair<std::string, double>> candidates, double tloc,
                     int cross_request = 1, double cross_lag = 10) {
    TryRequest r;
    r.inputs = std::make_shared<Inputs>("q");
    for (auto& [name, est] : candidates) {
      r.AddModel(models_.at(name).batcher->model(), models_.at(name).batcher.get(), Millis(est));
    }
    r.tloc = Millis(tloc);
    r.cross_request = cross_request;
    r.cross_lag = Millis(cross_lag);
    r.hedge = hedge_;
    return r;
  }

  // A mix of `mix` (names with estimates) combined by vote, then `then`.
  TryRequest MixRequest(std::vector<std::pair<std::string, double>> mix, double tloc,
                        std::vector<std::pair<std::string, double>> then = {}) {
    TryRequest r = Request(then.empty() ? mix : then, tloc);
    std::vector<Member> members;
    for (auto& [name, est] : mix) members.push_back({models_.at(name).batcher.get(), Millis(est)});
    r.candidates.clear();
    r.members.clear();
    r.AddMix("mix", members, Aggregator::kVote);
    for (auto& [name, est] : then) {
      r.AddModel(models_.at(name).batcher->model(), models_.at(name).batcher.get(), Millis(est));
    }
    return r;
  }

  TryRequest TalkRequest() {
    return Request({{"embedding", 35}, {"svm", 25}, {"bayes", 15}, {"keysearch", 5}}, 50);
  }

  void Submit(TryRequest r) {
    ASSERT_TRUE(broker_->Submit(std::move(r), [this](TryResult res) {
      result_ = std::move(res);
      answered_at_ = clock_.Now();
    }).ok());
  }

  // The attempt report of `model`, which must exist.
  const AttemptReport& Attempt(std::string_view model) const {
    for (const AttemptReport& a : result_->attempts) {
      if (a.model == model) return a;
    }
    ADD_FAILURE() << "no attempt for " << model;
    static AttemptReport none;
    return none;
  }
  bool Ran(std::string_view model) const {
    for (const AttemptReport& a : result_->attempts) {
      if (a.model == model) return true;
    }
    return false;
  }

  VirtualClock clock_;
  bool baseline_batching_ = false;  // batchers of the baseline policies
  Hedge hedge_ = Hedge::kExpected;
  std::unique_ptr<Broker> broker_;
  std::map<std::string, Model> models_;
  std::optional<TryResult> result_;
  TimePoint answered_at_;
};

TimePoint At(double ms) { return AtMillis(ms); }

// A finished try's record is reused for the next (Broker::Recycle): nothing
// of the first — a mix's member states, a failure, a fallback — shows in the
// second's result or timing.
TEST_F(BrokerTest, ARecycledTryRecordStartsClean) {
  AddModel("good", 5);
  AddModel("bad", 5, /*fail=*/true);
  AddModel("backup", 2);
  Submit(MixRequest({{"good", 5}, {"bad", 5}}, 50, {{"backup", 2}}));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  ASSERT_GE(result_->rank, 0);  // it held an answer: a stale `held` would stop the next try's fallback
  const TimePoint second_at = clock_.Now();
  result_.reset();
  Submit(Request({{"bad", 5}, {"backup", 2}}, 50));
  clock_.AdvanceTo(second_at + Millis(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "backup");  // rule 5: bad fails at 5, backup launches at once
  EXPECT_EQ(result_->rank, 1);
  EXPECT_EQ(result_->reason, Reason::kError);
  EXPECT_EQ(answered_at_, second_at + Millis(7));
  ASSERT_EQ(result_->attempts.size(), 2u);
  EXPECT_EQ(result_->attempts[0].state, AttemptState::kFailed);
  EXPECT_EQ(result_->attempts[0].started, Duration(0));
  EXPECT_EQ(result_->attempts[1].state, AttemptState::kSucceeded);
  EXPECT_TRUE(result_->attempts[1].error.empty());
  EXPECT_EQ(broker_->pending(), 0u);
}

// Worked example, branch 1: embedding answers at 20, nothing else runs.
TEST_F(BrokerTest, WorkedExampleTopModelAnswersEarly) {
  AddTalkModels(20, 25, 15, 5);
  Submit(TalkRequest());
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(20));
  EXPECT_EQ(result_->rank, 0);
  EXPECT_EQ(result_->model, "embedding");
  EXPECT_FALSE(result_->downgraded);
  EXPECT_EQ(result_->reason, Reason::kNone);
  ASSERT_EQ(result_->attempts.size(), 1u);
  EXPECT_EQ(result_->attempts[0].state, AttemptState::kSucceeded);
  EXPECT_EQ(result_->attempts[0].latency, Millis(20));
}

// The autoscaling signal: the top model's predicted time over tloc, queue
// included, so it rises with the queue before anything is downgraded.
TEST_F(BrokerTest, TopBudgetUseIsTheTopModelsPredictionOverTlocAndRisesWithItsQueue) {
  AddModel("embedding", 20);  // one replica, batches of up to 4
  AddModel("keysearch", 5);
  std::vector<TryResult> results;
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(broker_->Submit(Request({{"embedding", 20}, {"keysearch", 5}}, 200),
                                [&](TryResult r) { results.push_back(std::move(r)); }).ok());
  }
  clock_.AdvanceTo(At(300));
  ASSERT_EQ(results.size(), 9u);
  const LatencyEstimate alone = models_.at("embedding").batcher->Predict(0, Millis(20));
  std::vector<double> uses;
  for (const TryResult& r : results) uses.push_back(r.top_budget_use);
  std::sort(uses.begin(), uses.end());
  EXPECT_GT(uses.front(), 0);
  EXPECT_LE(uses.front(), std::chrono::duration<double>(alone.high) / std::chrono::duration<double>(Millis(200)) + 1e-9);
  EXPECT_GT(uses.back(), 2 * uses.front());  // the ninth waits for two batches ahead of it
  for (const TryResult& r : results) EXPECT_FALSE(r.downgraded);  // risen, yet nobody downgraded
}

// Branch 2: embedding answers at 30; svm, launched at 25, is cancelled.
TEST_F(BrokerTest, WorkedExampleHedgeCancelledWhenTopAnswers) {
  AddTalkModels(30, 25, 15, 5);
  Submit(TalkRequest());
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(30));
  EXPECT_EQ(result_->model, "embedding");
  EXPECT_EQ(Attempt("svm").state, AttemptState::kCancelled);
  EXPECT_EQ(Attempt("svm").started, Millis(25));
  EXPECT_FALSE(Ran("bayes"));
  EXPECT_FALSE(Ran("keysearch"));
}

// Once the try is answered, its inputs say so: svm's executor, still
// running, may stop (its answer can no longer be used).
TEST_F(BrokerTest, AnsweringATryMarksItsInputsOver) {
  AddTalkModels(30, 25, 15, 5);
  TryRequest r = TalkRequest();
  const std::shared_ptr<const Inputs> inputs = r.inputs;
  Submit(std::move(r));
  clock_.AdvanceTo(At(29));
  EXPECT_FALSE(inputs->over.is_set());
  clock_.AdvanceTo(At(30));
  ASSERT_TRUE(result_);
  EXPECT_TRUE(inputs->over.is_set());
}

// Branch 3: embedding hangs. svm at 25; bayes waits at the cap until its
// latest start (35) passes and is skipped; at 45 embedding is overdue, is
// cancelled and keysearch launched; svm's answer (back at 50) wins at D.
TEST_F(BrokerTest, WorkedExampleTopModelHangsSvmBackByDeadline) {
  AddTalkModels(1000, 25, 15, 5);
  Submit(TalkRequest());
  clock_.AdvanceTo(At(35));
  EXPECT_FALSE(result_);
  EXPECT_EQ(models_["bayes"].batcher->queued() + models_["bayes"].batcher->busy_replicas(), 0u);
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(50));
  EXPECT_EQ(result_->model, "svm");
  EXPECT_EQ(result_->rank, 1);
  EXPECT_TRUE(result_->downgraded);
  EXPECT_EQ(result_->reason, Reason::kOverdue);
  EXPECT_EQ(Attempt("embedding").state, AttemptState::kOverdue);
  EXPECT_EQ(Attempt("embedding").latency, Millis(45));
  EXPECT_EQ(Attempt("svm").started, Millis(25));
  EXPECT_EQ(Attempt("bayes").state, AttemptState::kSkipped);
  EXPECT_EQ(Attempt("bayes").started, Millis(35) + kTick);
  EXPECT_EQ(Attempt("keysearch").started, Millis(45));
  EXPECT_EQ(Attempt("keysearch").state, AttemptState::kCancelled);
}

// Branch 3, svm not back by 50: keysearch's answer goes out at D.
TEST_F(BrokerTest, WorkedExampleTopModelHangsKeysearchAtDeadline) {
  AddTalkModels(1000, 30, 15, 5);
  Submit(TalkRequest());
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(50) + kTick);
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(result_->rank, 3);
  EXPECT_EQ(Attempt("keysearch").state, AttemptState::kSucceeded);
  EXPECT_EQ(Attempt("svm").state, AttemptState::kCancelled);
}

// Regression: a rule-2 due time computed in the past means "now".
// bayes, the cheapest, is the last resort: at its latest start (35) it takes
// svm's slot (svm is predicted to answer last, at 50). keysearch, due at
// 34 = 50 - 16 but looked at only at 35, must be skipped; it must not cancel
// the overdue embedding, whose answer at 40 then wins.
TEST_F(BrokerTest, PastDueTimeIsJudgedAsNow) {
  AddTalkModels(40, 1000, 15, 5);
  Submit(Request({{"embedding", 35}, {"svm", 25}, {"bayes", 15}, {"keysearch", 16}}, 50, 1, 0));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(40));
  EXPECT_EQ(result_->model, "embedding");
  EXPECT_EQ(Attempt("svm").state, AttemptState::kCancelled);
  EXPECT_EQ(Attempt("svm").latency, Millis(10));
  EXPECT_EQ(Attempt("bayes").started, Millis(35));
  EXPECT_EQ(Attempt("bayes").state, AttemptState::kCancelled);
  EXPECT_EQ(Attempt("keysearch").state, AttemptState::kSkipped);
}

// Rule 1: better candidates that cannot finish in time are skipped up front.
TEST_F(BrokerTest, StartSkipsPredictedLate) {
  AddTalkModels(35, 25, 15, 5);
  Submit(Request({{"embedding", 35}, {"svm", 25}, {"bayes", 15}}, 20));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(15));
  EXPECT_EQ(result_->model, "bayes");
  EXPECT_EQ(result_->reason, Reason::kPredictedLate);
  EXPECT_EQ(Attempt("embedding").state, AttemptState::kSkipped);
  EXPECT_EQ(Attempt("svm").state, AttemptState::kSkipped);
}

// Rule 1: with a guard, a candidate must finish `guard` before D.
TEST_F(BrokerTest, GuardShrinksTheBudget) {
  broker_ = std::move(Broker::Create({.guard = Millis(1), .est_error = 1}, &clock_)).value();
  AddTalkModels(35, 25, 15, 5);
  Submit(Request({{"svm", 25}, {"bayes", 15}}, 25.5));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "bayes");
}

// Rule 1: nothing feasible, the cheapest still fits before D by its median.
TEST_F(BrokerTest, NothingFeasibleLaunchesCheapestIfItCanFinish) {
  AddTalkModels(35, 25, 15, 5);
  broker_ = std::move(Broker::Create({.guard = Millis(10), .est_error = 1}, &clock_)).value();
  // Re-create the batchers so they report to the new broker.
  AddTalkModels(35, 25, 15, 5);
  Submit(Request({{"svm", 25}, {"keysearch", 5}}, 12));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(answered_at_, At(5));
  EXPECT_EQ(result_->reason, Reason::kPredictedLate);
}

// Rule 1: nothing can finish before D: no answer at once, reason infeasible.
TEST_F(BrokerTest, InfeasibleAnswersAtOnce) {
  AddTalkModels(35, 25, 15, 5);
  Submit(Request({{"svm", 25}, {"bayes", 15}}, 10));
  ASSERT_TRUE(result_);  // before any time passed
  EXPECT_EQ(answered_at_, At(0));
  EXPECT_FALSE(result_->answer);
  EXPECT_EQ(result_->reason, Reason::kInfeasible);
  EXPECT_EQ(broker_->pending(), 0u);
}

// A core running 5 ms late plans to end 10 ms before D: svm (25 ms) no
// longer fits a 30 ms budget, bayes does, and no answer leaves after D - 10.
TEST_F(BrokerTest, CoreLagShrinksTheBudgetTwice) {
  AddTalkModels(35, 25, 15, 5);
  clock_.set_lag(Millis(5));
  Submit(Request({{"svm", 25}, {"bayes", 15}}, 30));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "bayes");
  EXPECT_EQ(result_->reason, Reason::kPredictedLate);
}

TEST_F(BrokerTest, CoreLagMovesTheDeadlineAnswerEarlier) {
  AddTalkModels(1000, 1000, 1000, 1000);
  clock_.set_lag(Millis(2));
  Submit(TalkRequest());
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->reason, Reason::kDeadline);
  EXPECT_EQ(answered_at_, At(50 - 4) + kTick);
}

// Only the core's lag stands between the cheapest candidate and its budget:
// no answer at once, reason overloaded (not infeasible: the models could).
TEST_F(BrokerTest, CoreLagAloneShedsAtOnceAsOverloaded) {
  AddTalkModels(35, 25, 15, 5);
  clock_.set_lag(Millis(10));
  Submit(Request({{"bayes", 15}, {"keysearch", 5}}, 20));
  ASSERT_TRUE(result_);  // before any time passed
  EXPECT_EQ(answered_at_, At(0));
  EXPECT_FALSE(result_->answer);
  EXPECT_EQ(result_->reason, Reason::kOverloaded);
  EXPECT_EQ(ReasonName(result_->reason), "overloaded");
  EXPECT_EQ(broker_->pending(), 0u);
}

TEST_F(BrokerTest, CoreLagMarginZeroPlansToTheDeadline) {
  broker_ = std::move(Broker::Create({.core_lag_margin = 0, .est_error = 1}, &clock_)).value();
  AddTalkModels(35, 25, 15, 5);
  clock_.set_lag(Millis(10));
  Submit(Request({{"bayes", 15}, {"keysearch", 5}}, 20));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "bayes");
  EXPECT_EQ(answered_at_, At(15));
  EXPECT_FALSE(Broker::Create({.core_lag_margin = -1}, &clock_).ok());
}

// Rule 2: the fallback is not launched before t_a + crossLag.
TEST_F(BrokerTest, FallbackWaitsForCrossLag) {
  AddTalkModels(1000, 5, 15, 5);
  Submit(Request({{"embedding", 5}, {"svm", 5}}, 50, 1, 20));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("svm").started, Millis(20));
}

// Rule 2: the fallback is due at t_a + E_a when that comes before S_next.
TEST_F(BrokerTest, FallbackDueAtExpectedLatency) {
  AddTalkModels(1000, 10, 15, 5);
  Submit(Request({{"embedding", 10}, {"svm", 10}}, 100, 1, 0));
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("svm").started, Millis(10));
  EXPECT_EQ(result_->model, "svm");
  // svm answered at 20; embedding became overdue at 10 + tick: out at 20.
  EXPECT_EQ(answered_at_, At(20));
}

// Safety net: the try waited at the cap for B, relaunched in A's place at
// 20, whose prediction ends at 45 + tick. keysearch's latest start is 45: it
// launches then, in B's place, and answers at D (before, it was skipped when
// 45 passed and the try had no answer).
TEST_F(BrokerTest, SafetyNetLaunchesTheCheapestAtItsLatestStartInTheSlotOfTheLeastLikely) {
  AddModel("embedding", 1000);
  AddModel("svm", 1000);
  AddModel("keysearch", 5);
  Submit(Request({{"embedding", 20}, {"svm", 25}, {"keysearch", 5}}, 50, 0, 0));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(50));
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(result_->reason, Reason::kOverdue);  // embedding gave way at 20 + tick
  EXPECT_EQ(Attempt("svm").started, Millis(20) + kTick);
  EXPECT_EQ(Attempt("svm").state, AttemptState::kCancelled);
  EXPECT_EQ(Attempt("keysearch").started, Millis(45));
}

// An executor that never finishes a batch and keeps the latest it was handed.
class HoldingExecutor final : public Executor {
 public:
  int replicas() const override { return 1; }
  bool StopsAbandonedWork() const override { return true; }  // as a remote call
  void Run(int, const Batch& batch, Done done) override {
    last = &batch;
    held = std::move(done);
  }
  const Batch* last = nullptr;
  Done held;
};

// An attempt given up on while its batch runs and the try goes on (overdue
// here) is abandoned when the try ends: its executor is told
// (Batch::abandoned), so a remote call stops instead of running to its
// deadline.
TEST_F(BrokerTest, TheBatchOfAnAttemptCancelledMidTryIsAbandonedWhenTheTryEnds) {
  HoldingExecutor gpu;
  Batcher::Options options;
  options.model = "embedding";
  auto embedding = std::move(Batcher::Create(options, &clock_, &gpu, broker_.get())).value();
  AddModel("keysearch", 5);
  TryRequest r = Request({{"keysearch", 5}}, 50, 0, 0);
  r.candidates.clear();
  r.members.clear();
  r.AddModel("embedding", embedding.get(), Millis(20));
  r.AddModel("keysearch", models_.at("keysearch").batcher.get(), Millis(5));
  Submit(std::move(r));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(Attempt("embedding").state, AttemptState::kOverdue);
  ASSERT_NE(gpu.last, nullptr);
  EXPECT_TRUE(gpu.last->abandoned.cancelled());
}

// Safety net: crossLag paces hedges, it never pushes the last resort past
// its latest start (40 - 5 = 35, not 38).
TEST_F(BrokerTest, SafetyNetIsNotDelayedByCrossLag) {
  AddModel("svm", 1000);
  AddModel("keysearch", 5);
  Submit(Request({{"svm", 30}, {"keysearch", 5}}, 40, 1, 38));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("keysearch").started, Millis(35));
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(answered_at_, At(40));
}

// Safety net, with the server's est_error of 2: keysearch's est of 4 ms is
// half its real 8, and nothing of it is learned yet, so its latest start
// leaves room for 8: 40 - 8 = 32, preempting svm (not yet overdue). Trusting
// the est it would start at 34 + tick and answer after D.
TEST_F(BrokerTest, SafetyNetLeavesRoomForAnEstHalfTheTruth) {
  broker_ = std::move(Broker::Create({}, &clock_)).value();
  AddModel("svm", 1000);
  AddModel("keysearch", 8);
  Submit(Request({{"svm", 34}, {"keysearch", 4}}, 40, 0, 0));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("svm").state, AttemptState::kCancelled);
  EXPECT_EQ(Attempt("svm").latency, Millis(32));
  EXPECT_EQ(Attempt("keysearch").started, Millis(32));
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(result_->reason, Reason::kDeadline);
  EXPECT_EQ(answered_at_, At(40));
}

// Safety net, one slot: keysearch's est (25) with room (50) is more than the
// budget, so it must start at once; rather than launch svm and preempt it at
// once, the try starts keysearch and skips svm.
TEST_F(BrokerTest, SafetyNetWithOneSlotStartsAnUnsureCheapestAtOnce) {
  broker_ = std::move(Broker::Create({}, &clock_)).value();
  AddModel("svm", 1000);
  AddModel("keysearch", 12);
  Submit(Request({{"svm", 30}, {"keysearch", 25}}, 40, 0, 0));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("svm").state, AttemptState::kSkipped);
  EXPECT_EQ(Attempt("keysearch").started, Millis(0));
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(result_->reason, Reason::kPredictedLate);
  EXPECT_EQ(answered_at_, At(12));
}

// hedge at_risk: the talk's example, embedding answering at 30. It is on
// track (to answer by its P, 35) all along: svm's latest start (25) passes
// and it is skipped, no hedge runs.
TEST_F(BrokerTest, AtRiskNoHedgeWhileTheTopIsOnTrack) {
  hedge_ = Hedge::kAtRisk;
  AddTalkModels(30, 25, 15, 5);
  Submit(TalkRequest());
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(30));
  EXPECT_EQ(result_->model, "embedding");
  EXPECT_EQ(Attempt("svm").state, AttemptState::kSkipped);
  EXPECT_FALSE(Ran("bayes"));
  EXPECT_FALSE(Ran("keysearch"));
}

// hedge at_risk, embedding hangs: it stops being on track at 35 + tick, when
// bayes's latest start (35) has passed; keysearch launches then and answers
// at 40 (the est timer would have had svm's answer at 50).
TEST_F(BrokerTest, AtRiskHedgesOnceTheTopIsPastItsP) {
  hedge_ = Hedge::kAtRisk;
  AddTalkModels(1000, 25, 15, 5);
  Submit(TalkRequest());
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("bayes").state, AttemptState::kSkipped);
  EXPECT_EQ(Attempt("keysearch").started, Millis(35) + kTick);
  EXPECT_EQ(result_->model, "keysearch");
  EXPECT_EQ(answered_at_, At(40) + kTick);
}

// A queue whose items start and finish when the test says.
class ScriptedQueue final : public ModelQueue {
 public:
  explicit ScriptedQueue(LatencyEstimate predicted) : predicted_(predicted) {}
  StatusOr<ItemId> Enqueue(WorkItem item) override {
    token = item.token;
    return ItemId{item.priority, item.deadline, ++seq_};
  }
  bool Cancel(const ItemId&) override { return true; }
  LatencyEstimate Predict(int, Duration) const override { return predicted_; }
  uint64_t token = 0;  // of the last item enqueued

 private:
  LatencyEstimate predicted_;
  uint64_t seq_ = 0;
};

// [top (scripted, predicted E 20, P 25), bayes (takes 10)], tloc 50,
// crossRequest 1, crossLag 0, hedge at_risk.
class AtRiskTest : public BrokerTest {
 protected:
  void SubmitTopThenBayes(ScriptedQueue& top) {
    AddModel("bayes", 10);
    TryRequest r = Request({{"bayes", 10}}, 50, 1, 0);
    r.candidates.clear();
    r.members.clear();
    r.AddModel("top", &top, Millis(20));
    r.AddModel("bayes", models_.at("bayes").batcher.get(), Millis(10));
    r.hedge = Hedge::kAtRisk;
    Submit(std::move(r));
  }
};

// The top attempt was predicted to answer by 25, but the batch it joined at
// 5 (E 40, p99 50) is likely to end at 5 + 46.8 (its p95), after D: the
// fallback launches at once, not at 25 + tick.
TEST_F(AtRiskTest, HedgesAtOnceWhenTheBatchJoinedEndsAfterD) {
  ScriptedQueue top({Millis(20), Millis(25), false});
  SubmitTopThenBayes(top);
  clock_.AdvanceTo(At(5));
  broker_->OnItemStarted(top.token, At(5), {Millis(40), Millis(50), false});
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("bayes").started, Millis(5));
  EXPECT_EQ(result_->model, "bayes");
}

// The same with a batch likely to end by D (E 18, p99 21: p95 5 + 20): the
// top stays on track, and its answer at 24 goes out with no hedge run.
TEST_F(AtRiskTest, WaitsWhileTheBatchJoinedEndsByD) {
  ScriptedQueue top({Millis(20), Millis(25), false});
  SubmitTopThenBayes(top);
  clock_.AdvanceTo(At(5));
  broker_->OnItemStarted(top.token, At(5), {Millis(18), Millis(21), false});
  clock_.AdvanceTo(At(24));
  broker_->OnItemDone(top.token, Answer{});
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "top");
  EXPECT_FALSE(Ran("bayes"));
}

// A batch whose p99 ends after D (5 + 47) but whose p95 does not (5 + 44.2)
// is on track: no hedge at 5; bayes starts only as the last resort, at its
// latest start (40), and is cancelled when the top answers at 45.
TEST_F(AtRiskTest, OnlyABatchLikelyToMissDIsHedged) {
  ScriptedQueue top({Millis(20), Millis(25), false});
  SubmitTopThenBayes(top);
  clock_.AdvanceTo(At(5));
  broker_->OnItemStarted(top.token, At(5), {Millis(38), Millis(47), false});
  clock_.AdvanceTo(At(45));
  broker_->OnItemDone(top.token, Answer{});
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "top");
  EXPECT_EQ(Attempt("bayes").started, Millis(40));
  EXPECT_EQ(Attempt("bayes").state, AttemptState::kCancelled);
}

// Rule 3: crossRequest 0 allows one attempt in flight: the fallback waits
// for the first to become overdue, then cancels it.
TEST_F(BrokerTest, CapCancelsOverdueAttempt) {
  AddTalkModels(1000, 10, 15, 5);
  Submit(Request({{"embedding", 10}, {"svm", 10}}, 50, 0, 0));
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("embedding").state, AttemptState::kOverdue);
  EXPECT_EQ(Attempt("embedding").latency, Millis(10) + kTick);
  EXPECT_EQ(Attempt("svm").started, Millis(10) + kTick);
  EXPECT_EQ(answered_at_, At(20) + kTick);
}

// Grace: with crossRequest 0 the fallback would cancel the top attempt the
// moment it is overdue; a grace of 1 ms lets one finishing 0.5 ms after its
// prediction answer (the server sets grace to its guard).
TEST_F(BrokerTest, GraceKeepsAnAttemptFinishingJustAfterItsPrediction) {
  broker_ = std::move(Broker::Create({.grace = Millis(1), .est_error = 1}, &clock_)).value();
  AddModel("embedding", 35.5);
  AddModel("svm", 5);
  Submit(Request({{"embedding", 35}, {"svm", 5}}, 100, 0, 0));
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "embedding");
  EXPECT_EQ(answered_at_, At(35.5));
  EXPECT_FALSE(Ran("svm"));
}

// Rule 4: a worse answer is held while a better attempt is in flight and
// not overdue, and the better answer wins when it comes.
TEST_F(BrokerTest, BetterAnswerWinsOverHeldOne) {
  AddTalkModels(33, 5, 15, 5);
  Submit(Request({{"embedding", 35}, {"svm", 25}}, 50, 1, 10));
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  // svm launched at S = 25, answered at 30 and was held; embedding at 33.
  EXPECT_EQ(answered_at_, At(33));
  EXPECT_EQ(result_->model, "embedding");
  EXPECT_EQ(Attempt("svm").state, AttemptState::kSucceeded);
  EXPECT_EQ(Attempt("svm").latency, Millis(5));
}

// Rule 4: the held answer goes out as soon as the better one is overdue.
TEST_F(BrokerTest, HeldAnswerGoesWhenBetterIsOverdue) {
  AddTalkModels(60, 5, 15, 5);
  Submit(Request({{"embedding", 35}, {"svm", 25}}, 50, 1, 10));
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(35) + kTick);
  EXPECT_EQ(result_->model, "svm");
  EXPECT_EQ(result_->reason, Reason::kOverdue);
}

// Rule 5: a failure makes the next launch due at once, ignoring crossLag.
TEST_F(BrokerTest, FailureLaunchesNextAtOnce) {
  AddModel("embedding", 3, /*fail=*/true);
  AddModel("svm", 5);
  Submit(Request({{"embedding", 35}, {"svm", 5}}, 50, 1, 20));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("embedding").state, AttemptState::kFailed);
  EXPECT_EQ(Attempt("svm").started, Millis(3));
  EXPECT_EQ(answered_at_, At(8));
  EXPECT_EQ(result_->reason, Reason::kError);
}

// Rule 3 and 5: a launch due at the full cap waits; a failure frees the slot.
TEST_F(BrokerTest, FailureFreesSlotForWaitingLaunch) {
  AddModel("embedding", 1000);
  AddModel("svm", 20, /*fail=*/true);
  AddModel("bayes", 5);
  // svm has been learned: E = 10, P = 30.
  for (int i = 0; i < 7; ++i) models_["svm"].batcher->service_times().Observe(1, Millis(10));
  models_["svm"].batcher->service_times().Observe(1, Millis(30));
  Submit(Request({{"embedding", 90}, {"svm", 10}, {"bayes", 5}}, 100, 1, 0));
  // svm at S = 100 - 30 = 70; bayes due at 70 + 10 = 80, but the cap is full
  // and nothing is overdue (embedding until 90, svm until 100): it waits.
  clock_.AdvanceTo(At(69));
  EXPECT_EQ(models_["svm"].batcher->busy_replicas(), 0);
  clock_.AdvanceTo(At(85));
  EXPECT_EQ(models_["svm"].batcher->busy_replicas(), 1);
  EXPECT_EQ(models_["bayes"].batcher->busy_replicas(), 0);
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  EXPECT_EQ(Attempt("svm").started, Millis(70));
  EXPECT_EQ(Attempt("svm").state, AttemptState::kFailed);
  EXPECT_EQ(Attempt("bayes").started, Millis(90));  // svm failed at 90
  EXPECT_EQ(result_->model, "bayes");
  EXPECT_EQ(answered_at_, At(95));  // embedding is overdue by then
}

// Rule 5: all attempts failed, nothing left: no answer at once.
TEST_F(BrokerTest, AllFailedAnswersNoneBeforeDeadline) {
  AddModel("embedding", 3, true);
  AddModel("svm", 4, true);
  Submit(Request({{"embedding", 35}, {"svm", 5}}, 50));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_FALSE(result_->answer);
  EXPECT_EQ(result_->reason, Reason::kError);
  EXPECT_EQ(answered_at_, At(7));
}

// Rule 6: at D with nothing held: no answer, reason deadline, all cancelled.
TEST_F(BrokerTest, DeadlineWithNothingHeld) {
  AddTalkModels(1000, 1000, 1000, 1000);
  Submit(TalkRequest());
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_FALSE(result_->answer);
  EXPECT_EQ(result_->reason, Reason::kDeadline);
  EXPECT_EQ(answered_at_, At(50) + kTick);
  for (const AttemptReport& a : result_->attempts) {
    EXPECT_NE(a.state, AttemptState::kInFlight) << a.model;
  }
  EXPECT_EQ(broker_->pending(), 0u);
}

// Rule 7: a cancelled attempt leaves its queue if it has not started.
TEST_F(BrokerTest, CancelRemovesQueuedItem) {
  AddModel("embedding", 1000);
  AddModel("svm", 5);
  // Occupy embedding's only replica with another try.
  Submit(Request({{"embedding", 10}}, 2000, 0, 0));
  result_.reset();
  Submit(Request({{"embedding", 10}, {"svm", 5}}, 50, 1, 0));
  EXPECT_EQ(models_["embedding"].batcher->queued(), 1u);
  clock_.AdvanceTo(At(30));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "svm");
  EXPECT_EQ(models_["embedding"].batcher->queued(), 0u);
}

// Load-aware downgrade: once a model's slowness is learned, it is skipped.
TEST_F(BrokerTest, LearnedSlownessSkipsModelUpFront) {
  AddModel("embedding", 80, false, 64);
  AddModel("svm", 10);
  for (int i = 0; i < 8; ++i) {
    result_.reset();
    Submit(Request({{"embedding", 35}, {"svm", 25}}, 50));
    clock_.Advance(Millis(100));
    ASSERT_TRUE(result_);
    EXPECT_EQ(result_->model, "svm");
    EXPECT_EQ(result_->reason, Reason::kOverdue);  // embedding, past its P at 35, gave way to svm
  }
  result_.reset();
  Submit(Request({{"embedding", 35}, {"svm", 25}}, 50));
  clock_.Advance(Millis(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->reason, Reason::kPredictedLate);
  EXPECT_EQ(answered_at_, clock_.Now() - Millis(100) + Millis(10));
}

// Baselines (tbms serve --policy): Clipper-like default-on-miss launches the
// top model though it is predicted late, and answers nothing at D.
TEST_F(BrokerTest, BaselineDefaultOnMissLaunchesAndMissesAtDeadline) {
  broker_ = std::move(Broker::Create({.launch_predicted_late = true, .est_error = 1}, &clock_)).value();
  baseline_batching_ = true;
  AddModel("svm", 25);
  Submit(Request({{"svm", 25}}, 10));
  EXPECT_FALSE(result_);  // not answered at once as infeasible
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(10) + kTick);
  EXPECT_FALSE(result_->answer);
  EXPECT_EQ(result_->reason, Reason::kDeadline);
}

// Triton-like single: no end-to-end deadline, the answer comes when it comes.
TEST_F(BrokerTest, BaselineSingleWaitsPastDeadline) {
  broker_ = std::move(Broker::Create({.launch_predicted_late = true, .wait_past_deadline = true, .est_error = 1},
                                     &clock_)).value();
  baseline_batching_ = true;
  AddModel("svm", 25);
  Submit(Request({{"svm", 25}}, 10));
  clock_.AdvanceTo(At(100));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(25));
  EXPECT_EQ(result_->model, "svm");
}

// ---- Rule 8: mixes ----------------------------------------------------------

// All members answer before the mix's expected time: it answers when the
// last one does.
TEST_F(BrokerTest, MixAnswersWhenEveryMemberHas) {
  AddModel("a", 5);
  AddModel("b", 20);
  Submit(MixRequest({{"a", 5}, {"b", 25}}, 100));
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(20));
  EXPECT_EQ(result_->model, "mix");
  EXPECT_EQ(*result_->answer, "\"a answer to: q\"");  // votes tie: the better-ranked member's
}

// At its expected time (the slowest member's E, 10) the mix answers with the
// members that did, and the rest is cancelled.
TEST_F(BrokerTest, MixAnswersAtItsExpectedTimeWithTheMembersThatDid) {
  AddModel("fast", 5);
  AddModel("slow", 100);
  Submit(MixRequest({{"fast", 5}, {"slow", 10}}, 200));
  clock_.AdvanceTo(At(300));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(10));
  EXPECT_EQ(*result_->answer, "\"fast answer to: q\"");
}

// No member by the expected time: the mix answers with the first that does.
TEST_F(BrokerTest, MixPastItsExpectedTimeAnswersWithTheFirstMember) {
  AddModel("a", 30);
  AddModel("b", 40);
  Submit(MixRequest({{"a", 10}, {"b", 10}}, 200));
  clock_.AdvanceTo(At(300));
  ASSERT_TRUE(result_);
  EXPECT_EQ(answered_at_, At(30));
  EXPECT_EQ(*result_->answer, "\"a answer to: q\"");
}

// Every member fails: the mix fails, and the next candidate is due at once (rule 5).
TEST_F(BrokerTest, MixWithEveryMemberFailedFallsBack) {
  AddModel("a", 3, /*fail=*/true);
  AddModel("b", 4, /*fail=*/true);
  AddModel("c", 5);
  Submit(MixRequest({{"a", 10}, {"b", 10}}, 100, {{"c", 5}}));
  clock_.AdvanceTo(At(200));
  ASSERT_TRUE(result_);
  EXPECT_EQ(result_->model, "c");
  EXPECT_EQ(answered_at_, At(9));
  EXPECT_EQ(Attempt("mix").state, AttemptState::kFailed);
  EXPECT_EQ(result_->reason, Reason::kError);
}

// An executor answering a fixed JSON value after `ms` (fails with "fail").
class ConstExecutor final : public Executor {
 public:
  ConstExecutor(Clock* clock, double ms, std::string answer) : clock_(clock), ms_(ms), answer_(std::move(answer)) {}
  int replicas() const override { return 1; }
  void Run(int, const Batch& batch, Done done) override {
    BatchResult r;
    r.service_time = Millis(ms_);
    for (size_t i = 0; i < batch.items.size(); ++i) {
      r.answers.push_back(answer_ == "fail" ? StatusOr<Answer>(Unavailable("failed")) : StatusOr<Answer>(answer_));
    }
    clock_->Schedule(clock_->Now() + Millis(ms_), [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

 private:
  Clock* clock_;
  double ms_;
  std::string answer_;
};

// max(avg(a, b), c): members run together, the inner mix is combined first,
// and a member that fails is left out of its own mix only.
TEST_F(BrokerTest, NestedMixCombinesTheInnerMixFirst) {
  struct Case {
    const char *a, *b, *c, *want;
  };
  for (const Case& k : {Case{"1", "3", "2.5", "2.5"}, Case{"1", "3", "1.5", "2"}, Case{"1", "fail", "1.5", "1.5"},
                        Case{"fail", "fail", "0.5", "0.5"}}) {
    std::vector<std::unique_ptr<ConstExecutor>> executors;
    std::vector<std::unique_ptr<Batcher>> batchers;
    std::vector<Member> members;
    for (const char* answer : {k.a, k.b, k.c}) {
      executors.push_back(std::make_unique<ConstExecutor>(&clock_, 5, answer));
      Batcher::Options bo;
      bo.model = "m";
      batchers.push_back(std::move(Batcher::Create(bo, &clock_, executors.back().get(), broker_.get())).value());
      members.push_back({batchers.back().get(), Millis(10)});  // all back before the mix's E
    }
    TryRequest r;
    r.inputs = std::make_shared<Inputs>("q");
    r.tloc = Millis(100);
    const std::vector<MixStep> steps{{MixStep::kMember, Aggregator::kAvg, 0}, {MixStep::kMember, Aggregator::kAvg, 1},
                                     {MixStep::kCombine, Aggregator::kAvg, 2}, {MixStep::kMember, Aggregator::kMax, 2},
                                     {MixStep::kCombine, Aggregator::kMax, 2}};
    r.AddMix("nested", members, steps);
    result_.reset();
    Submit(std::move(r));
    clock_.AdvanceTo(clock_.Now() + Millis(50));
    ASSERT_TRUE(result_);
    ASSERT_TRUE(result_->answer) << k.a << k.b << k.c;
    EXPECT_EQ(*result_->answer, k.want) << k.a << " " << k.b << " " << k.c;
  }
}

TEST_F(BrokerTest, MalformedMixStepsAreRejected) {
  AddModel("a", 5);
  std::vector<Member> members{{models_.at("a").batcher.get(), Millis(5)}};
  const std::vector<std::vector<MixStep>> bad = {
      {{MixStep::kMember, Aggregator::kMax, 1}, {MixStep::kCombine, Aggregator::kMax, 1}},  // no member 1
      {{MixStep::kMember, Aggregator::kMax, 0}, {MixStep::kCombine, Aggregator::kMax, 2}},  // pops 2 of 1
      {{MixStep::kMember, Aggregator::kMax, 0}, {MixStep::kMember, Aggregator::kMax, 0}},   // leaves 2
  };
  for (const auto& steps : bad) {
    TryRequest r;
    r.inputs = std::make_shared<Inputs>("q");
    r.tloc = Millis(100);
    r.AddMix("m", members, steps);
    EXPECT_EQ(broker_->Submit(std::move(r), [](TryResult) {}).code(), StatusCode::kInvalidArgument);
  }
}

TEST(AggregateTest, MaxAvgVote) {
  auto agg = [](Aggregator a, std::vector<std::string> answers) {
    std::vector<const Answer*> ptrs;
    for (const auto& s : answers) ptrs.push_back(&s);
    return Aggregate(a, ptrs);
  };
  EXPECT_EQ(*agg(Aggregator::kMax, {"0.2", "0.9", "0.5"}), "0.9");
  EXPECT_EQ(*agg(Aggregator::kMax, {R"({"label":"a","score":0.4})", R"({"label":"b","score":0.7})"}),
            R"({"label":"b","score":0.7})");
  EXPECT_EQ(*agg(Aggregator::kAvg, {"1", "2", "6"}), "3");
  EXPECT_EQ(*agg(Aggregator::kAvg, {"[1, 2]", "[3, 4]"}), "[2,3]");
  EXPECT_EQ(*agg(Aggregator::kAvg, {R"({"a": 1, "b": 2})", R"({"a": 3})"}), R"({"a":2,"b":2})");
  // Answers with a text and a score: the score is averaged, the text is the best-ranked member's.
  EXPECT_EQ(*agg(Aggregator::kAvg, {R"({"answer": "x", "score": 0.5})", R"({"answer": "y", "score": 0.7})"}),
            R"({"answer":"x","score":0.6})");
  EXPECT_EQ(agg(Aggregator::kAvg, {R"({"a": 1})", R"({"a": "one"})"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*agg(Aggregator::kVote, {R"("x")", R"("y")", R"( "y" )"}), R"("y")");
  EXPECT_EQ(*agg(Aggregator::kVote, {R"("x")", R"("y")"}), R"("x")");  // tie: the best-ranked
  EXPECT_EQ(agg(Aggregator::kMax, {R"("x")", R"("y")"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(agg(Aggregator::kAvg, {"[1]", "[1, 2]"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(agg(Aggregator::kAvg, {"1", "[1]"}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*agg(Aggregator::kAvg, {R"("only one")"}), R"("only one")");
}

// Limits: too many pending tries is RESOURCE_EXHAUSTED, and the request
// stays with the caller.
TEST_F(BrokerTest, MaxPendingRejects) {
  broker_ = std::move(Broker::Create({.max_pending = 1, .est_error = 1}, &clock_)).value();
  AddModel("svm", 10);
  Submit(Request({{"svm", 10}}, 50));
  Status s = broker_->Submit(Request({{"svm", 10}}, 50), [](TryResult) {});
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
}

TEST_F(BrokerTest, RejectsMalformedRequests) {
  AddModel("svm", 10);
  auto bad = [&](auto mutate) {
    TryRequest r = Request({{"svm", 10}}, 50);
    mutate(r);
    return broker_->Submit(std::move(r), [](TryResult) {}).code();
  };
  EXPECT_EQ(bad([](TryRequest& r) { r.tloc = Duration(0); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.tloc = Duration::max(); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.cross_request = INT32_MAX; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.cross_request = -1; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.cross_lag = Millis(-1); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.candidates.clear(); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.members[0].queue = nullptr; }), StatusCode::kInvalidArgument);
}

// The broker accepts what the edge and the house accept (tbms/broker/limits.h).
TEST_F(BrokerTest, AcceptsTriesAtTheLimits) {
  AddModel("svm", 10);
  TryRequest r = Request({{"svm", 10}}, 50);
  r.tloc = limits::kMaxTloc;
  r.cross_request = limits::kMaxCrossRequest;
  r.cross_lag = limits::kMaxCrossLag;
  r.priority = -limits::kMaxPriority;
  Submit(std::move(r));
}

TEST_F(BrokerTest, RefusesTriesPastTheLimits) {
  AddModel("svm", 10);
  auto bad = [&](auto mutate) {
    TryRequest r = Request({{"svm", 10}}, 50);
    mutate(r);
    return broker_->Submit(std::move(r), [](TryResult) {}).code();
  };
  EXPECT_EQ(bad([](TryRequest& r) { r.tloc = limits::kMaxTloc + Duration(1); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.cross_request = limits::kMaxCrossRequest + 1; }),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.cross_lag = limits::kMaxCrossLag + Duration(1); }),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](TryRequest& r) { r.priority = limits::kMaxPriority + 1; }), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tbms
