// The KServe v2 gRPC edge end to end on loopback, in process: every RPC of
// the spec's service, the health service, signatures in metadata (and their
// replay), instance scoping, quotas, tries, and the status code of each
// refusal. A real server on real time: each call is bounded by its gRPC
// deadline, and no outcome depends on timing (models take 5 ms of tries
// budgeted in seconds).
#include "tbms/server/grpc_server.h"

#include <gtest/gtest.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "kserve/grpc_service.pb.h"
#include "simulated_model.h"
#include "tbms/auth/signing.h"
#include "tbms/client/grpc_client.h"
#include "tbms/client/grpc_try.h"
#include "tbms/kserve/grpc_bytes.h"
#include "tbms/server/real_clock.h"

namespace tbms {
namespace {

using inference::ModelInferRequest;
using inference::ModelInferResponse;

const AccessKey kAdmin{"admin-1", "admin-secret", ""};
const AccessKey kQa{"qa-1", "qa-secret", "qa"};

ModelConfig Model(const std::string& name) {
  ModelConfig m = server_test::Simulated(name, {1});
  m.inputs = {{"question", DataType::kBytes, {1}}};
  m.outputs = {{"answer", DataType::kBytes, {1}}};
  return m;
}

HouseScan House(double max_rps) {
  HouseScan scan;
  scan.config.models = {Model("svm"), Model("bayes"), Model("secret")};
  InstanceConfig qa;
  qa.name = "qa";
  qa.models = {"svm", "bayes"};
  qa.keys = {kQa};
  qa.max_rps = max_rps;
  TaskConfig label;
  label.name = "label";
  label.models = {"svm", "bayes"};
  label.tloc = std::chrono::seconds(5);
  qa.tasks["label"] = label;
  scan.config.instances = {qa};
  scan.config.admin_keys = {kAdmin};
  return scan;
}

class GrpcServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Serve(/*max_rps=*/0); }
  void TearDown() override { Stop(); }

  void Serve(double max_rps, GrpcServer::Options options = {}) {
    io_thread_ = std::thread([this] { ioc_.run(); });
    engine_ = std::move(Engine::Create({}, &core_.clock, &core_.runner)).value();
    ASSERT_TRUE(engine_->Apply(House(max_rps), {}, false).ok());
    options.port = 0;
    server_ = std::make_unique<GrpcServer>(options, engine_.get(),
                                           std::make_shared<Gate>(Gate::Options{}), ioc_.get_executor());
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->port()), grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }
  void Stop() {
    if (server_) server_->Shutdown();
    server_.reset();
    core_.Stop();
    work_.reset();
    io_thread_.join();
  }

  // One unary call of `path`, signed by `key` unless null, with the given
  // bytes (`body`) as the request; the response's bytes in *out. Cancelling
  // `cancel` (when given) cancels the call.
  grpc::Status Raw(const std::string& path, const std::string& body, const AccessKey* key, std::string* out,
                   std::string* authorization = nullptr, const Cancellation* cancel = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (key != nullptr) {
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
      std::string header = AuthorizationHeader(*key, "POST", path, body, now, NewNonce());
      if (authorization != nullptr) {
        if (authorization->empty()) *authorization = header; else header = *authorization;  // a replay
      }
      ctx.AddMetadata("authorization", header);
    }
    out->clear();
    grpc::Status status = CallUnary(*stub_, ctx, path, body, out, cancel);
    trailers_.clear();
    for (const auto& [k, v] : ctx.GetServerTrailingMetadata()) trailers_.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    return status;
  }
  template <typename Request, typename Response>
  grpc::Status Call(const std::string& rpc, const Request& request, Response* response, const AccessKey* key = &kAdmin) {
    std::string out;
    grpc::Status s = Raw("/inference.GRPCInferenceService/" + rpc, request.SerializeAsString(), key, &out);
    if (s.ok()) {
      EXPECT_TRUE(response->ParseFromString(out));
    }
    return s;
  }
  // grpc.health.v1.Health/Check for `service` ("": the whole server): 1 SERVING, 2 NOT_SERVING.
  int Health(const std::string& service = "") {
    std::string out, request;
    if (!service.empty()) request = std::string(1, 0x0a) + static_cast<char>(service.size()) + service;  // field 1
    const grpc::Status s = Raw("/grpc.health.v1.Health/Check", request, nullptr, &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out.size() == 2 && out[0] == 0x08 ? out[1] : -1;  // field 1 (status), varint
  }

  static ModelInferRequest Question(const std::string& model, const std::string& text) {
    ModelInferRequest m;
    m.set_model_name(model);
    auto* in = m.add_inputs();
    in->set_name("question");
    in->set_datatype("BYTES");
    in->add_shape(1);
    in->mutable_contents()->add_bytes_contents(text);
    return m;
  }
  static std::string Param(const ModelInferResponse& r, const std::string& key) {
    const auto it = r.parameters().find(key);
    if (it == r.parameters().end()) return "<none>";
    const auto& p = it->second;
    if (p.has_string_param()) return p.string_param();
    if (p.has_bool_param()) return p.bool_param() ? "true" : "false";
    return std::to_string(p.int64_param());
  }

  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_{ioc_.get_executor()};
  std::thread io_thread_;
  RealTimeCore core_{ioc_.get_executor()};
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
  std::multimap<std::string, std::string> trailers_;  // of the last call
};

TEST_F(GrpcServerTest, HealthAndLivenessNeedNoKeyAndReadinessFollowsTheDrain) {
  inference::ServerLiveResponse live;
  ASSERT_TRUE(Call("ServerLive", inference::ServerLiveRequest(), &live, nullptr).ok());
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_TRUE(Call("ServerReady", inference::ServerReadyRequest(), &ready, nullptr).ok());
  EXPECT_TRUE(ready.ready());
  EXPECT_EQ(Health(), 1);
  EXPECT_EQ(Health("inference.GRPCInferenceService"), 1);

  server_->Drain();
  ASSERT_TRUE(Call("ServerReady", inference::ServerReadyRequest(), &ready, nullptr).ok());
  EXPECT_FALSE(ready.ready());
  EXPECT_EQ(Health(), 2);
  EXPECT_EQ(Health("inference.GRPCInferenceService"), 2);
  ModelInferResponse r;
  EXPECT_EQ(Call("ModelInfer", Question("svm", "hi"), &r).error_code(), grpc::StatusCode::UNAVAILABLE);
}

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// gRPC would bind with SO_REUSEPORT and share the port's calls with a
// second server; TBMS's refuses to start instead.
TEST_F(GrpcServerTest, ASecondServerOnThePortDoesNotStart) {
  GrpcServer::Options options;
  options.port = server_->port();
  GrpcServer second(options, engine_.get(), std::make_shared<Gate>(Gate::Options{}), ioc_.get_executor());
  const Status started = second.Start();
  EXPECT_EQ(started.code(), StatusCode::kUnavailable) << started.ToString();
  EXPECT_EQ(Health(), 1);  // the first still serves
}

// An idle connection is closed (GOAWAY), and the client's next call
// reconnects: idle clients cannot pile up on the server.
TEST_F(GrpcServerTest, AnIdleConnectionIsClosedAndTheNextCallReconnects) {
  GrpcServer::Options options;
  options.port = 0;
  options.idle_timeout = std::chrono::milliseconds(200);
  GrpcServer idle(options, engine_.get(), std::make_shared<Gate>(Gate::Options{}), ioc_.get_executor());
  ASSERT_TRUE(idle.Start().ok());
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(idle.port()), grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  const auto check = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    HealthCheckResponse told;
    return health->Check(&ctx, HealthCheckRequest(), &told).ok() && told.status() == HealthCheckResponse::SERVING;
  };
  ASSERT_TRUE(check());
  ASSERT_EQ(channel->GetState(false), GRPC_CHANNEL_READY);
  // Event-driven: the channel leaves READY when the server's GOAWAY comes
  // (the bound only keeps a broken build from hanging).
  EXPECT_TRUE(channel->WaitForStateChange(GRPC_CHANNEL_READY, std::chrono::system_clock::now() + std::chrono::seconds(20)));
  EXPECT_NE(channel->GetState(false), GRPC_CHANNEL_READY);
  EXPECT_TRUE(check());
  idle.Shutdown();
}

TEST_F(GrpcServerTest, HealthOfAServiceThisServerDoesNotHaveIsNotFound) {
  std::string out;
  const std::string request = std::string(1, 0x0a) + static_cast<char>(5) + "other";  // service "other"
  EXPECT_EQ(Raw("/grpc.health.v1.Health/Check", request, nullptr, &out).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Raw("/grpc.health.v1.Health/Nap", request, nullptr, &out).error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

// A watch is told the status at once and again when it changes; it is not a
// request in flight (a drain does not wait for it), and it ends when cancelled.
TEST_F(GrpcServerTest, AHealthWatchIsToldWhenTheServerTurnsUnready) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));  // bounds each Read
  HealthCheckRequest request;
  request.set_service("inference.GRPCInferenceService");
  auto watch = health->Watch(&ctx, request);
  HealthCheckResponse told;
  ASSERT_TRUE(watch->Read(&told));
  EXPECT_EQ(told.status(), HealthCheckResponse::SERVING);
  EXPECT_EQ(server_->active_requests(), 0u);

  server_->Unready();
  ASSERT_TRUE(watch->Read(&told));
  EXPECT_EQ(told.status(), HealthCheckResponse::NOT_SERVING);

  grpc::ClientContext other_ctx;
  other_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  request.set_service("other");
  auto other = health->Watch(&other_ctx, request);
  ASSERT_TRUE(other->Read(&told));
  EXPECT_EQ(told.status(), HealthCheckResponse::SERVICE_UNKNOWN);  // the spec's answer, and the watch stays open

  ctx.TryCancel();
  EXPECT_FALSE(watch->Read(&told));
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
  other_ctx.TryCancel();
  EXPECT_FALSE(other->Read(&told));
}

TEST_F(GrpcServerTest, ShutdownEndsTheWatchesStillOpen) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto watch = health->Watch(&ctx, HealthCheckRequest());
  HealthCheckResponse told;
  ASSERT_TRUE(watch->Read(&told));
  EXPECT_EQ(told.status(), HealthCheckResponse::SERVING);
  server_->Shutdown();  // returns: the watch is cancelled, not waited for
  while (watch->Read(&told)) {  // NOT_SERVING, unless the cancel overtook it: ends, either way
    EXPECT_EQ(told.status(), HealthCheckResponse::NOT_SERVING);
  }
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

// Calls in flight when the server stops, some cancelled by their clients
// first: each ends with an answer or a cancel, and Shutdown returns once all
// have (the ASan and TSan builds run this too).
TEST_F(GrpcServerTest, EveryCallEndsWhenCancelledOrCutOffByShutdown) {
  constexpr int kCalls = 48;  // 5 ms each on one replica: most still queued at Shutdown
  const std::string path = "/inference.GRPCInferenceService/ModelInfer";
  const std::string body = Question("svm", "hi").SerializeAsString();
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<grpc::ByteBuffer> requests(kCalls), responses(kCalls);
  std::vector<grpc::StatusCode> codes(kCalls);
  std::mutex mu;
  std::condition_variable all_done;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    auto& ctx = *contexts.emplace_back(std::make_unique<grpc::ClientContext>());
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch()).count();
    ctx.AddMetadata("authorization", AuthorizationHeader(kAdmin, "POST", path, body, now, NewNonce()));
    requests[i] = BytesBuffer(body);
    stub_->UnaryCall(&ctx, path, grpc::StubOptions(), &requests[i], &responses[i], [&, i](grpc::Status s) {
      std::lock_guard lock(mu);
      codes[i] = s.error_code();
      if (++done == kCalls) all_done.notify_one();
    });
    if (i % 3 == 0) ctx.TryCancel();
  }
  server_->Shutdown();
  std::unique_lock lock(mu);
  ASSERT_TRUE(all_done.wait_for(lock, std::chrono::seconds(30), [&] { return done == kCalls; }));
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_TRUE(codes[i] == grpc::StatusCode::OK || codes[i] == grpc::StatusCode::CANCELLED ||
                codes[i] == grpc::StatusCode::UNAVAILABLE)
        << "call " << i << ": " << codes[i];
  }
  EXPECT_EQ(server_->active_requests(), 0u);
}

// A remote model's call (CallUnary, as its gRPC transport makes it) stops
// when its batch is abandoned, cancelled from the core's thread: before it
// starts or while the server holds it, it ends CANCELLED, not at its 20 s
// deadline with DEADLINE_EXCEEDED.
TEST_F(GrpcServerTest, AnAbandonedCallEndsCancelledWhetherOutOrNotYetStarted) {
  HouseScan scan = House(0);
  ModelConfig hang = Model("hang");
  hang.versions[0].simulated.hang_rate = 1;  // never answers
  scan.config.models.push_back(hang);
  ASSERT_TRUE(engine_->Apply(scan, {}, false).ok());
  const std::string path = "/inference.GRPCInferenceService/ModelInfer";
  ModelInferRequest q = Question("hang", "hi");
  (*q.mutable_parameters())["tloc"].set_int64_param(2000);  // the try ends by then: TearDown need not wait 10 s
  const std::string body = q.SerializeAsString();
  auto call = [&](const Cancellation* cancel) {
    std::string out;
    return Raw(path, body, &kAdmin, &out, nullptr, cancel).error_code();
  };
  Cancellation before;
  before.Cancel();
  EXPECT_EQ(call(&before), grpc::StatusCode::CANCELLED);
  Cancellation during;
  auto out = std::async(std::launch::async, [&] { return call(&during); });
  for (int i = 0; i < 20000 && engine_->pending() == 0; ++i) {  // bounded: until the server holds the call
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_GT(engine_->pending(), 0u);
  during.Cancel();
  EXPECT_EQ(out.get(), grpc::StatusCode::CANCELLED);
}

// A call whose request message never comes holds a stream, but is no
// request in flight: a drain (which waits for those) cannot be held open by
// a client that opens calls and sends nothing; Shutdown ends the call.
TEST_F(GrpcServerTest, ACallThatNeverSendsItsMessageDoesNotHoldADrain) {
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  auto call = stub_->PrepareCall(&ctx, "/inference.GRPCInferenceService/ModelInfer", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);  // the call is out, with no message
  for (int i = 0; i < 20000 && server_->open_calls() == 0; ++i) {  // bounded: until the server takes it
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(server_->open_calls(), 1u);
  EXPECT_EQ(server_->active_requests(), 0u);
  server_->Shutdown();  // cancels it within its second
  EXPECT_EQ(server_->open_calls(), 0u);
  ctx.TryCancel();
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(GrpcServerTest, EveryOtherCallMustBeSignedOnce) {
  inference::ServerMetadataResponse meta;
  const grpc::Status unsigned_call = Call("ServerMetadata", inference::ServerMetadataRequest(), &meta, nullptr);
  EXPECT_EQ(unsigned_call.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(Call("ServerMetadata", inference::ServerMetadataRequest(), &meta).ok());
  EXPECT_EQ(meta.name(), "tbms");

  AccessKey wrong = kAdmin;
  wrong.secret = "guess";
  EXPECT_EQ(Call("ServerMetadata", inference::ServerMetadataRequest(), &meta, &wrong).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  // The signature covers the bytes: the same header on another body fails,
  // and on the same body a second time is a replay.
  const std::string path = "/inference.GRPCInferenceService/ModelInfer";
  const std::string body = Question("svm", "hi").SerializeAsString();
  std::string header, out;
  ASSERT_TRUE(Raw(path, body, &kAdmin, &out, &header).ok());
  EXPECT_EQ(Raw(path, body, &kAdmin, &out, &header).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  std::string other_header;
  ASSERT_TRUE(Raw(path, body, &kAdmin, &out, &other_header).ok());
  EXPECT_EQ(Raw(path, Question("svm", "ho").SerializeAsString(), &kAdmin, &out, &other_header).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(GrpcServerTest, ModelMetadataAndReadinessAreScopedToTheKeysInstance) {
  inference::ModelMetadataRequest q;
  q.set_name("svm");
  inference::ModelMetadataResponse m;
  ASSERT_TRUE(Call("ModelMetadata", q, &m, &kQa).ok());
  EXPECT_EQ(m.name(), "svm");
  EXPECT_EQ(m.platform(), "tbms_simulated");
  ASSERT_EQ(m.inputs_size(), 1);
  EXPECT_EQ(m.inputs(0).datatype(), "BYTES");
  EXPECT_EQ(m.versions_size(), 1);

  q.set_name("secret");  // in the house, not among qa's models
  EXPECT_EQ(Call("ModelMetadata", q, &m, &kQa).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Call("ModelMetadata", q, &m).ok());
  q.set_name("nope");
  EXPECT_EQ(Call("ModelMetadata", q, &m).error_code(), grpc::StatusCode::NOT_FOUND);

  inference::ModelReadyRequest rq;
  rq.set_name("svm");
  inference::ModelReadyResponse ready;
  ASSERT_TRUE(Call("ModelReady", rq, &ready, &kQa).ok());
  EXPECT_TRUE(ready.ready());
  rq.set_version("9");
  ASSERT_TRUE(Call("ModelReady", rq, &ready, &kQa).ok());
  EXPECT_FALSE(ready.ready());
}

TEST_F(GrpcServerTest, InferAnswersInTheFormItWasAskedIn) {
  ModelInferRequest q = Question("svm", "is this spam?");
  q.set_id("req-1");
  ModelInferResponse r;
  ASSERT_TRUE(Call("ModelInfer", q, &r, &kQa).ok());
  EXPECT_EQ(r.model_name(), "svm");
  EXPECT_EQ(r.model_version(), "1");
  EXPECT_EQ(r.id(), "req-1");
  ASSERT_EQ(r.outputs_size(), 1);
  EXPECT_EQ(r.outputs(0).name(), "answer");
  EXPECT_EQ(r.raw_output_contents_size(), 0);
  EXPECT_EQ(r.outputs(0).contents().bytes_contents_size(), 1);

  // raw in, raw out: BYTES as a 4-byte little-endian length, then the bytes
  ModelInferRequest raw = Question("svm", "x");
  raw.mutable_inputs(0)->clear_contents();
  raw.add_raw_input_contents(std::string("\x01\0\0\0x", 5));
  ASSERT_TRUE(Call("ModelInfer", raw, &r, &kQa).ok());
  EXPECT_EQ(r.raw_output_contents_size(), 1);
}

TEST_F(GrpcServerTest, EachBadInferGetsItsStatusCode) {
  ModelInferResponse r;
  ModelInferRequest q = Question("svm", "hi");
  q.mutable_inputs(0)->set_shape(0, 2);  // 2 elements declared, 1 sent
  const grpc::Status mismatch = Call("ModelInfer", q, &r);
  EXPECT_EQ(mismatch.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(mismatch.error_message(), "inputs[0].contents.bytes_contents: expected 2 elements for shape [2], got 1");
  EXPECT_EQ(Call("ModelInfer", Question("nope", "hi"), &r).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Call("ModelInfer", Question("secret", "hi"), &r, &kQa).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  std::string out;
  EXPECT_EQ(Raw("/inference.GRPCInferenceService/ModelInfer", "\xff\xff\xff", &kAdmin, &out).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // not a message
  EXPECT_EQ(Raw("/inference.GRPCInferenceService/RepositoryIndex", "", &kAdmin, &out).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(Raw("/other.Service/Call", "", &kAdmin, &out).error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // A question is text: answers quote it, and they are JSON.
  const grpc::Status binary = Call("ModelInfer", Question("svm", "a\xff\xfe"), &r);
  EXPECT_EQ(binary.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(binary.error_message(), "the question (the first one-element BYTES input) is not valid UTF-8");
  // Over the message limit (1 MiB by default): refused by gRPC itself.
  EXPECT_EQ(Call("ModelInfer", Question("svm", std::string(2 << 20, 'x')), &r).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(GrpcServerTest, ATryOverGrpcReportsWhoAnswered) {
  ModelInferRequest q = Question("try", "is this spam?");
  (*q.mutable_parameters())["task"].set_string_param("label");
  q.set_id("t-1");
  ModelInferResponse r;
  ASSERT_TRUE(Call("ModelInfer", q, &r, &kQa).ok());  // the instance is the key's
  EXPECT_EQ(r.model_name(), "svm");
  EXPECT_EQ(r.id(), "t-1");
  EXPECT_EQ(Param(r, "model"), "svm");
  EXPECT_EQ(Param(r, "rank"), "0");
  EXPECT_EQ(Param(r, "downgraded"), "false");
  EXPECT_EQ(Param(r, "reason"), "<none>");
  EXPECT_TRUE(Param(r, "attempts").starts_with("[{\"model\":\"svm\",")) << Param(r, "attempts");
  ASSERT_EQ(r.outputs_size(), 1);
  EXPECT_EQ(r.outputs(0).name(), "answer");

  // Ad hoc: a ranked list with ests, tloc and crossRequest; an admin names the instance.
  ModelInferRequest adhoc = Question("try", "hello");
  auto& p = *adhoc.mutable_parameters();
  p["instance"].set_string_param("qa");
  p["models"].set_string_param("bayes:20,svm@1");
  p["tloc"].set_int64_param(5000);
  p["crossRequest"].set_int64_param(1);
  ASSERT_TRUE(Call("ModelInfer", adhoc, &r).ok());
  EXPECT_EQ(Param(r, "model"), "bayes");

  // Ad hoc mixes: the JSON try's "mixes", as JSON text.
  ModelInferRequest mixed = Question("try", "hello");
  auto& m = *mixed.mutable_parameters();
  m["mixes"].set_string_param(
      R"([{"name": "duo", "members": [{"name": "svm", "est": 5}, {"name": "bayes", "est": 5}], "aggregator": "max"}])");
  m["tloc"].set_int64_param(5000);
  ASSERT_TRUE(Call("ModelInfer", mixed, &r, &kQa).ok());
  EXPECT_EQ(Param(r, "model"), "duo");
  EXPECT_EQ(Param(r, "rank"), "0");
}

// The client library's gRPC try (tbms/client/grpc_try.h) against the edge:
// the message it builds is the try meant, and the result reads as over REST.
TEST_F(GrpcServerTest, TheClientsGrpcTryIsAnsweredAndReadAsOverRest) {
  client::TryRequest request{.question = "hello",
                             .models = {{.name = "bayes", .est_ms = 20}, {.name = "svm", .version = "1"}},
                             .tloc_ms = 5000,
                             .cross_request = 1,
                             .cross_lag_ms = 2,
                             .hedge = "expected"};
  StatusOr<ModelInferRequest> q = client::TryMessage(request, "qa");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->parameters().at("models").string_param(), "bayes:20,svm@1");
  ModelInferResponse r;
  ASSERT_TRUE(Call("ModelInfer", *q, &r, &kQa).ok());
  StatusOr<client::TryResult> got = client::ParseTryMessage(r);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->model, "bayes");
  EXPECT_EQ(got->version, "1");
  EXPECT_EQ(got->rank, 0);
  EXPECT_FALSE(got->downgraded);
  EXPECT_EQ(got->reason, "");
  EXPECT_EQ(got->answer_text.find("hello") != std::string::npos, true) << got->answer_text;
  ASSERT_FALSE(got->attempts.empty());
  EXPECT_EQ(got->attempts[0].model, "bayes");
  EXPECT_EQ(got->attempts[0].state, "succeeded");

  // No answer in time: a result without one, with its reason.
  request.models = {{.name = "svm", .est_ms = 25}};
  request.tloc_ms = 2;
  q = client::TryMessage(request, "qa");
  ASSERT_TRUE(q.ok());
  ASSERT_TRUE(Call("ModelInfer", *q, &r, &kQa).ok());
  got = client::ParseTryMessage(r);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_FALSE(got->answer.has_value());
  EXPECT_EQ(got->rank, -1);
  EXPECT_EQ(got->reason, "infeasible");

  request.tloc_ms = 2.5;
  EXPECT_EQ(client::TryMessage(request, "qa").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(client::ParseTryMessage(ModelInferResponse()).status().code(), StatusCode::kInternal);
}

// The C++ gRPC client (tbms/client/grpc_client.h): a signed try answered and
// read as over REST, the server's refusals as statuses, and its own options
// checked before anything is sent.
TEST_F(GrpcServerTest, TheGrpcClientSignsItsTriesAndSaysTheServersRefusals) {
  const std::string address = "127.0.0.1:" + std::to_string(server_->port());
  auto signed_client = client::GrpcClient::Create(
      {.address = address, .access_id = kQa.id, .access_key = kQa.secret, .instance = "qa"});
  ASSERT_TRUE(signed_client.ok()) << signed_client.status().ToString();
  client::TryRequest request{.question = "hello", .models = {{.name = "svm"}, {.name = "bayes"}}, .tloc_ms = 5000};
  StatusOr<client::TryResult> got = (*signed_client)->Try(request);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->model, "svm");
  EXPECT_NE(got->answer_text.find("hello"), std::string::npos) << got->answer_text;
  got = (*signed_client)->Try({.question = "q", .task = "label"});  // the task gives models and tloc
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->model, "svm");

  got = (*signed_client)->Try({.question = "q", .models = {{.name = "secret"}}, .tloc_ms = 5000});
  EXPECT_EQ(got.status().code(), StatusCode::kPermissionDenied) << got.status().ToString();  // not the instance's
  EXPECT_EQ(got.status().message().rfind("gRPC PERMISSION_DENIED: instance 'qa' may not use model 'secret'", 0), 0u)
      << got.status().message();
  request.tloc_ms = 2.5;
  EXPECT_EQ((*signed_client)->Try(request).status().code(), StatusCode::kInvalidArgument);

  auto unsigned_client = client::GrpcClient::Create({.address = address, .instance = "qa"});
  ASSERT_TRUE(unsigned_client.ok());
  request.tloc_ms = 5000;
  got = (*unsigned_client)->Try(request);
  EXPECT_EQ(got.status().code(), StatusCode::kUnauthenticated) << got.status().ToString();

  auto refused = [](client::GrpcClient::Options options) {
    return client::GrpcClient::Create(std::move(options)).status();
  };
  for (const std::string bad : {"", "http://127.0.0.1:1", "127.0.0.1", "127.0.0.1:", ":80", "host:8a", "a/b:1",
                                "127.0.0.1:0", "127.0.0.1:99999"}) {
    const Status s = refused({.address = bad});
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("HOST:PORT"), std::string::npos) << s.message();
  }
  EXPECT_TRUE(client::GrpcClient::Create({.address = "[::1]:8001"}).ok());
  EXPECT_NE(refused({.address = address, .instance = "no spaces"}).message().find("instance must be"),
            std::string::npos);
  EXPECT_EQ(refused({.address = address, .access_id = "qa-1"}).message(), "access_id 'qa-1' needs its access_key");
  EXPECT_EQ(refused({.address = address, .access_key = "k"}).message(), "an access_key needs its access_id");
  EXPECT_EQ(refused({.address = address, .request_timeout_ms = -1}).code(), StatusCode::kInvalidArgument);
  EXPECT_NE(refused({.address = address, .ca_file = "/nonexistent/ca.pem"}).message().find("cannot read ca_file"),
            std::string::npos);
}

TEST_F(GrpcServerTest, EachBadTryGetsItsStatusCode) {
  ModelInferResponse r;
  auto with = [](std::initializer_list<std::pair<std::string, std::string>> params) {
    ModelInferRequest q = Question("try", "hi");
    for (const auto& [k, v] : params) (*q.mutable_parameters())[k].set_string_param(v);
    return q;
  };
  EXPECT_EQ(Call("ModelInfer", with({{"task", "label"}}), &r).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);  // an admin must name the instance
  EXPECT_EQ(Call("ModelInfer", with({{"task", "label"}, {"instance", "other"}}), &r, &kQa).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call("ModelInfer", with({{"task", "nope"}}), &r, &kQa).error_code(), grpc::StatusCode::NOT_FOUND);
  const grpc::Status unknown = Call("ModelInfer", with({{"task", "label"}, {"tlco", "5"}}), &r, &kQa);
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(unknown.error_message().find("unknown parameter 'tlco'"), std::string::npos) << unknown.error_message();
  EXPECT_EQ(Call("ModelInfer", with({{"models", "secret"}}), &r, &kQa).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call("ModelInfer", with({{"models", "svm"}}), &r, &kQa).error_message(),
            "tloc is required (milliseconds)");
  EXPECT_EQ(Call("ModelInfer", with({{"models", "svm:-1"}}), &r, &kQa).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  const grpc::Status garbled = Call("ModelInfer", with({{"mixes", "[{"}}), &r, &kQa);
  EXPECT_EQ(garbled.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(garbled.error_message().starts_with("parameters.mixes: malformed JSON")) << garbled.error_message();
  const grpc::Status no_aggregator =
      Call("ModelInfer", with({{"mixes", R"([{"name": "m", "members": [{"name": "svm"}]}])"}}), &r, &kQa);
  EXPECT_EQ(no_aggregator.error_message(), "parameters.mixes: mixes[0].aggregator is required (max, avg or vote)");
  EXPECT_EQ(Call("ModelInfer",
                 with({{"mixes", R"([{"name": "m", "members": [{"name": "secret"}], "aggregator": "max"}])"}}), &r,
                 &kQa)
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Call("ModelInfer",
                 with({{"models", "svm"}, {"mixes", R"([{"name": "m", "members": [{"name": "svm"}], "aggregator": "max"}])"}}),
                 &r, &kQa)
                .error_message(),
            "give one of parameters.task, parameters.models and parameters.mixes");

  // The instance keeps the name rule, as in REST's path (it labels the report's series).
  const grpc::Status badly_named = Call("ModelInfer", with({{"task", "label"}, {"instance", "a$b"}}), &r);
  EXPECT_EQ(badly_named.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(badly_named.error_message(), "parameters.instance must be 1-128 characters of A-Z a-z 0-9 . _ -");
  EXPECT_EQ(Call("ModelInfer", with({{"task", "label"}, {"instance", std::string(200, 'I')}}), &r).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The question: one non-empty UTF-8 BYTES element named "question".
  const std::pair<ModelInferRequest, std::string> questions[] = {
      {Question("try", ""), "inputs 'question' must not be empty"},
      {Question("try", "a\xff"), "inputs 'question' is not valid UTF-8"},
      {ModelInferRequest(), "inputs must not be empty"},
  };
  for (auto [q, message] : questions) {
    q.set_model_name("try");
    (*q.mutable_parameters())["task"].set_string_param("label");
    const grpc::Status s = Call("ModelInfer", q, &r, &kQa);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << message;
    EXPECT_EQ(s.error_message(), message);
  }
}

// The house gives qa one try per second.
class GrpcQuotaTest : public GrpcServerTest {
 protected:
  void SetUp() override { Serve(/*max_rps=*/1); }
};

TEST_F(GrpcQuotaTest, AnInstanceOverItsRateGetsResourceExhaustedWithRetryAfter) {
  ModelInferRequest q = Question("try", "hi");
  (*q.mutable_parameters())["task"].set_string_param("label");
  ModelInferResponse r;
  ASSERT_TRUE(Call("ModelInfer", q, &r, &kQa).ok());
  EXPECT_EQ(Call("ModelInfer", q, &r, &kQa).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  const auto retry = trailers_.find("retry-after");
  ASSERT_NE(retry, trailers_.end());
  EXPECT_EQ(retry->second, "1");
}

}  // namespace
}  // namespace tbms
