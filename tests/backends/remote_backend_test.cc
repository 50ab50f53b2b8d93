// RemoteBackend over scripted transports on the virtual clock: a batch goes
// out as one infer shaped as the model declares, each row of the answer
// goes to its item, a malformed answer fails the batch with what is wrong,
// and endpoints are ejected after repeated failures and let back once a
// readiness probe passes.
#include "tbms/backends/remote/remote_backend.h"

#include <gtest/gtest.h>

#include <deque>

#include "tbms/common/virtual_clock.h"

namespace tbms {
namespace {

// Answers from a script (or echoes the questions as JSON strings when it runs out).
struct ScriptedTransport : RemoteTransport {
  std::deque<StatusOr<InferResponse>> script;
  std::deque<Status> ready;
  std::vector<InferRequest> seen;
  const Cancellation* abandoned = nullptr;  // the latest call's
  int probes = 0;

  StatusOr<InferResponse> Infer(const InferRequest& request, Duration, const Cancellation* cancel) override {
    seen.push_back(request);
    abandoned = cancel;
    if (!script.empty()) {
      auto r = std::move(script.front());
      script.pop_front();
      return r;
    }
    InferResponse echo;
    echo.outputs.push_back(request.inputs[0]);
    echo.outputs[0].name = "answer";
    return echo;
  }
  Status Ready(Duration) override {
    ++probes;
    if (ready.empty()) return OkStatus();
    Status s = ready.front();
    ready.pop_front();
    return s;
  }
};

ModelConfig Labeler(int endpoints) {
  ModelConfig m;
  m.name = "labeler";
  m.backend = std::string(kRemoteBackend);
  m.inputs = {{"text", DataType::kBytes, {-1}}};
  m.outputs = {{"answer", DataType::kBytes, {-1}}};
  for (int i = 0; i < endpoints; ++i) m.remote.endpoints.push_back("10.0.0." + std::to_string(i) + ":8000");
  m.remote.eject_after = 2;
  m.remote.eject_for = Millis(100);
  return m;
}

Batch Questions(std::initializer_list<const char*> qs, TimePoint deadline) {
  Batch b;
  for (const char* q : qs) b.items.push_back(std::make_shared<const Inputs>(q));
  b.deadline = deadline;
  return b;
}

class RemoteBackendTest : public ::testing::Test {
 protected:
  void Make(int endpoints, DataType output = DataType::kBytes) {
    std::vector<std::unique_ptr<RemoteTransport>> ts;
    for (int i = 0; i < endpoints; ++i) {
      auto t = std::make_unique<ScriptedTransport>();
      transports_.push_back(t.get());
      ts.push_back(std::move(t));
    }
    ModelConfig m = Labeler(endpoints);
    m.outputs[0].datatype = output;
    backend_ = std::move(RemoteBackend::Create(m, &clock_, std::move(ts))).value();
  }
  std::vector<StatusOr<Answer>> Run(std::initializer_list<const char*> qs) {
    return backend_->Process(Questions(qs, clock_.Now() + Millis(50)));
  }

  VirtualClock clock_;
  std::vector<ScriptedTransport*> transports_;
  std::shared_ptr<RemoteBackend> backend_;
};

TEST_F(RemoteBackendTest, ABatchIsOneInferAndEachRowIsAnItemsAnswer) {
  Make(1);
  transports_[0]->script.push_back([] {
    InferResponse r;
    Tensor t;
    t.name = "answer";
    t.shape = {3};
    t.AppendString("{\"label\": \"spam\"}");  // JSON: the answer as it is
    t.AppendString("ham");                     // not JSON: a JSON string
    t.AppendString("[1, 2]");
    r.outputs.push_back(t);
    return r;
  }());
  const auto answers = Run({"a", "b", "c"});
  ASSERT_EQ(answers.size(), 3u);
  EXPECT_EQ(*answers[0], "{\"label\": \"spam\"}");
  EXPECT_EQ(*answers[1], "\"ham\"");
  EXPECT_EQ(*answers[2], "[1, 2]");
  const InferRequest& sent = transports_[0]->seen.at(0);
  ASSERT_EQ(sent.inputs.size(), 1u);
  EXPECT_EQ(sent.inputs[0].name, "text");
  EXPECT_EQ(sent.inputs[0].shape, std::vector<int64_t>{3});  // the declared -1 is the batch
  EXPECT_EQ(sent.inputs[0].Strings()[2], "c");
  EXPECT_EQ(sent.outputs, std::vector<std::string>{"answer"});
  EXPECT_EQ(sent.tloc, Millis(50));  // the batch's deadline travels
}

TEST_F(RemoteBackendTest, NumericRowsBecomeNumbersOrArrays) {
  Make(1, DataType::kFp32);
  InferResponse r;
  Tensor t;
  t.name = "answer";
  t.datatype = DataType::kFp32;
  t.shape = {2, 2};
  for (float v : {0.5f, 1.5f, 2.0f, 3.0f}) t.data.append(reinterpret_cast<const char*>(&v), 4);
  r.outputs.push_back(t);
  transports_[0]->script.push_back(r);
  const auto rows = Run({"a", "b"});
  EXPECT_EQ(*rows[0], "[0.5,1.5]");
  EXPECT_EQ(*rows[1], "[2,3]");
  r.outputs[0].shape = {4};
  transports_[0]->script.push_back(r);
  const auto scalars = Run({"a", "b", "c", "d"});
  EXPECT_EQ(*scalars[3], "3");
  r.outputs[0].datatype = DataType::kFp64;  // not what model.toml declares
  transports_[0]->script.push_back(r);
  EXPECT_EQ(Run({"a", "b", "c", "d"})[0].status().message(),
            "10.0.0.0:8000: the remote answered output 'answer' as FP64, not FP32 as model.toml declares");
}

TEST_F(RemoteBackendTest, AnAnswerOfTheWrongShapeFailsEveryItemSayingSo) {
  Make(1);
  InferResponse r;
  Tensor t;
  t.name = "answer";
  t.shape = {1};
  t.AppendString("x");
  r.outputs.push_back(t);
  transports_[0]->script.push_back(r);
  const auto answers = Run({"a", "b"});
  ASSERT_FALSE(answers[1].ok());
  EXPECT_EQ(answers[1].status().code(), StatusCode::kInternal);
  EXPECT_EQ(answers[1].status().message(), "10.0.0.0:8000: the remote answered output 'answer' of shape [1] for a batch of 2");
  transports_[0]->script.push_back(Status(StatusCode::kUnavailable, "connection refused"));
  EXPECT_EQ(Run({"a"})[0].status().message(), "10.0.0.0:8000: connection refused");
}

TEST_F(RemoteBackendTest, IdleEndpointsTakeCallsInTurnSoALightLoadSpreads) {
  Make(3);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(Run({"q"})[0].ok());
  for (ScriptedTransport* t : transports_) EXPECT_EQ(t->seen.size(), 2u);
}

TEST_F(RemoteBackendTest, AFailingEndpointIsEjectedAndComesBackAfterAProbe) {
  Make(2);
  const Status refused(StatusCode::kUnavailable, "connection refused");
  transports_[0]->script = {refused, refused};
  EXPECT_FALSE(Run({"a"})[0].ok());  // idle endpoints take calls in turn: 0, 1, 0, ...
  EXPECT_EQ(backend_->healthy(), 2);  // one failure is not enough (eject_after 2)
  EXPECT_TRUE(Run({"b"})[0].ok());
  EXPECT_FALSE(Run({"c"})[0].ok());  // endpoint 0 fails its second call
  EXPECT_EQ(backend_->healthy(), 1);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(Run({"d"})[0].ok());  // all to endpoint 1
  EXPECT_EQ(transports_[0]->seen.size(), 2u);
  EXPECT_EQ(transports_[1]->seen.size(), 4u);

  transports_[1]->script = {refused, refused};  // now the other one fails too
  EXPECT_FALSE(Run({"e"})[0].ok());
  EXPECT_FALSE(Run({"f"})[0].ok());
  EXPECT_EQ(backend_->healthy(), 0);
  const auto none = Run({"g"});
  EXPECT_EQ(none[0].status().code(), StatusCode::kUnavailable);  // at once: nobody is called
  EXPECT_EQ(transports_[0]->seen.size() + transports_[1]->seen.size(), 8u);

  clock_.Advance(Millis(100));  // ejection over: a probe first, then the call
  transports_[0]->ready = {Status(StatusCode::kUnavailable, "not ready")};
  EXPECT_EQ(Run({"h"})[0].status().message(), "10.0.0.0:8000 is not ready: not ready");
  EXPECT_EQ(transports_[0]->probes, 1);
  EXPECT_TRUE(Run({"i"})[0].ok());  // endpoint 1's probe passes
  EXPECT_EQ(transports_[1]->probes, 1);
  EXPECT_TRUE(Run({"j"})[0].ok());  // endpoint 0 is out again; endpoint 1 answered: no probe
  EXPECT_EQ(transports_[1]->probes, 1);
}

TEST_F(RemoteBackendTest, ACallCancelledBecauseItsTriesEndedIsSkippedNotAFailure) {
  Make(1);
  Batch b = Questions({"a"}, clock_.Now() + Millis(50));
  b.items[0]->over.Set();  // answered elsewhere while the call was out
  b.abandoned.Cancel();    // so its batcher abandoned the call
  for (int i = 0; i < 3; ++i) {
    transports_[0]->script.push_back(Status(StatusCode::kCancelled, "cancelled by the caller"));
    const auto answers = backend_->Process(b);
    EXPECT_TRUE(IsSkippedTryOver(answers[0].status())) << answers[0].status().ToString();
    EXPECT_EQ(transports_[0]->abandoned, &b.abandoned);  // what the batcher cancels reaches the call
  }
  EXPECT_TRUE(backend_->StopsAbandonedWork());  // so its batcher looks for batches to abandon
  EXPECT_EQ(backend_->healthy(), 1);  // three cancellations: no ejection
}

// A call we gave up neither helps nor hurts its endpoint: failures on
// either side of it still add up to an ejection.
TEST_F(RemoteBackendTest, AnAbandonedCallDoesNotClearAnEndpointsFailures) {
  Make(1);
  Batch abandoned = Questions({"a"}, clock_.Now() + Millis(50));
  abandoned.abandoned.Cancel();
  transports_[0]->script.push_back(Unavailable("connection refused"));
  transports_[0]->script.push_back(Status(StatusCode::kCancelled, "cancelled by the caller"));
  transports_[0]->script.push_back(Unavailable("connection refused"));
  EXPECT_FALSE(Run({"a"})[0].ok());
  EXPECT_TRUE(IsSkippedTryOver(backend_->Process(abandoned)[0].status()));
  EXPECT_FALSE(Run({"a"})[0].ok());
  EXPECT_EQ(backend_->healthy(), 0);
}

// A CANCELLED the remote answers on its own (shutting down, a proxy) is its
// failure, not a try that was over.
TEST_F(RemoteBackendTest, ARemotesOwnCancelledIsAFailure) {
  Make(1);
  for (int i = 0; i < 2; ++i) transports_[0]->script.push_back(Status(StatusCode::kCancelled, "server shutting down"));
  const auto first = Run({"a"});
  EXPECT_EQ(first[0].status().code(), StatusCode::kCancelled);
  EXPECT_EQ(first[0].status().message(), "10.0.0.0:8000: server shutting down");
  (void)Run({"a"});
  EXPECT_EQ(backend_->healthy(), 0);
}

// A request the remote refuses as malformed would be refused by every
// endpoint alike: it ejects none.
TEST_F(RemoteBackendTest, ARequestRefusedAsMalformedEjectsNoEndpoint) {
  Make(1);
  for (int i = 0; i < 3; ++i) {
    transports_[0]->script.push_back(InvalidArgument("input 'text' must have shape [-1, 1]"));
    EXPECT_EQ(Run({"a"})[0].status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(backend_->healthy(), 1);
}

TEST_F(RemoteBackendTest, AWorkersOwnEstimateIsAFloorWhileFresh) {
  Make(1);
  clock_.Advance(Millis(5));
  EXPECT_EQ(backend_->ExpectedFloor(), Duration(0));  // nothing heard yet
  InferResponse busy;
  Tensor t;
  t.name = "answer";
  t.shape = {1};
  t.AppendString("x");
  busy.outputs.push_back(t);
  busy.expected_now = Millis(80);  // other brokers keep the worker busy
  transports_[0]->script.push_back(busy);
  ASSERT_TRUE(Run({"a"})[0].ok());
  EXPECT_EQ(backend_->ExpectedFloor(), Millis(80));
  clock_.Advance(RemoteBackend::kRemoteEstimateTtl + Millis(1));
  EXPECT_EQ(backend_->ExpectedFloor(), Duration(0));  // stale: a call will be tried and tell anew
}

TEST_F(RemoteBackendTest, ABatchPastItsDeadlineIsNotSent) {
  Make(1);
  const auto answers = backend_->Process(Questions({"a"}, clock_.Now()));
  EXPECT_EQ(answers[0].status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(transports_[0]->seen.empty());
}

TEST(RemoteBackendCreateTest, NeedsABytesInputWithABatchDimension) {
  VirtualClock clock;
  ModelConfig m = Labeler(1);
  m.inputs = {{"x", DataType::kFp32, {-1, 4}}};
  std::vector<std::unique_ptr<RemoteTransport>> ts;
  ts.push_back(std::make_unique<ScriptedTransport>());
  const auto r = RemoteBackend::Create(m, &clock, std::move(ts));
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tbms
