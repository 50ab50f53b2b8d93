#include "tbms/server/grpc_server.h"

#include <boost/asio/post.hpp>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.pb.h"
#include "kserve/grpc_service.pb.h"
#include "tbms/broker/limits.h"
#include "tbms/common/json_fields.h"
#include "tbms/common/mutex.h"
#include "tbms/kserve/grpc_bytes.h"
#include "tbms/kserve/v2_proto.h"
#include "tbms/server/answer_handoff.h"
#include "tbms/server/try_proto.h"

namespace tbms {

struct GrpcServer::State {
  State(Options o, Engine* e, std::shared_ptr<Gate> g, boost::asio::any_io_executor i)
      : options(std::move(o)), engine(e), gate(std::move(g)), io(std::move(i)), v2(options.v2, e, nullptr, io) {}
  const Options options;
  Engine* const engine;
  const std::shared_ptr<Gate> gate;
  const boost::asio::any_io_executor io;
  const V2Api v2;  // no repository RPCs in the spec's service: no loader
  grpc::AsyncGenericService service;  // every RPC but health's
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;  // one per thread
  std::vector<std::thread> threads;
  std::atomic<bool> unready{false};
  std::atomic<bool> draining{false};
  std::atomic<size_t> active{0};  // calls taken and not yet ended, health watches too
  // Call objects alive, those still waiting for an RPC included: what
  // Shutdown waits for before it shuts the queues, so no call asks a shut
  // queue for the next RPC (which gRPC asserts against).
  std::atomic<size_t> outstanding{0};
  // Calls whose request message came, and that are not watches, until they
  // end: what a drain waits for. A call that never sends its message is not
  // one (Shutdown's cancel ends it), so no client can hold a drain open.
  std::atomic<size_t> requests{0};
  // An open health watch: told its service's status each time readiness changes.
  struct Watch {
    Call* call;
    int told = -1;         // the status last written (a HealthCheckResponse::ServingStatus)
    bool writing = false;  // a write is in flight: one at a time
  };
  Mutex watches_mu;
  std::vector<Watch> watches GUARDED_BY(watches_mu);
};

namespace {

constexpr std::string_view kServiceName = "inference.GRPCInferenceService";
constexpr std::string_view kService = "/inference.GRPCInferenceService/";  // the RPCs' path prefix
constexpr std::string_view kHealth = "/grpc.health.v1.Health/";
// Open health watches at most: each holds a stream. Kubernetes' probes use Check.
constexpr size_t kMaxWatches = 1024;
// Connection keepalive and age (see Start).
constexpr int kKeepaliveMs = 60'000;
constexpr int kKeepaliveTimeoutMs = 20'000;
constexpr int kMaxConnectionAgeMs = 30 * 60'000;
constexpr int kMaxConnectionAgeGraceMs =
    static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(limits::kMaxTloc).count()) + 60'000;

using HealthResponse = grpc::health::v1::HealthCheckResponse;
using HealthStatus = HealthResponse::ServingStatus;

grpc::Status ToGrpc(const Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());  // the same canonical codes
}

// The health of `service` ("": the whole server).
HealthStatus HealthOf(std::string_view service, bool unready) {
  if (!service.empty() && service != kServiceName) return HealthResponse::SERVICE_UNKNOWN;
  return unready ? HealthResponse::NOT_SERVING : HealthResponse::SERVING;
}

void SpecsToProto(const std::vector<TensorSpec>& specs,
                  google::protobuf::RepeatedPtrField<inference::ModelMetadataResponse::TensorMetadata>* out) {
  for (const TensorSpec& spec : specs) {
    auto* t = out->Add();
    t->set_name(spec.name);
    t->set_datatype(std::string(DataTypeName(spec.datatype)));
    for (int64_t d : spec.shape) t->add_shape(d);
  }
}

}  // namespace

// One RPC on one completion queue: taken, its request message read, answered
// once (a health watch: each time the status changes, until it is cancelled),
// then deleted once gRPC says it ended. Every operation of a call completes
// on its queue, whose one thread steps the call on.
class GrpcServer::Call {
 public:
  // A queue's tag: the call and what completed.
  struct Event {
    Call* call;
    void (Call::*completed)(bool ok);
  };

  // Asks for the next RPC on `queue`.
  static void Await(const std::shared_ptr<State>& state, grpc::ServerCompletionQueue* queue) {
    state->outstanding.fetch_add(1);
    auto* call = new Call(state, queue);
    call->ctx_.AsyncNotifyWhenDone(&call->call_ended_);  // comes only for an RPC that was taken
    state->service.RequestCall(&call->ctx_, &call->stream_, queue, queue, &call->operation_done_);
  }

  // A health watch: writes its service's status now and notes it in `watch`,
  // its record in State::watches. Under watches_mu, from any thread.
  void Tell(State::Watch& watch) {
    HealthResponse r;
    r.set_status(HealthOf(watched_, state_->unready.load()));
    watch.told = r.status();
    watch.writing = true;
    out_ = BytesBuffer(r.SerializeAsString());
    stream_.Write(out_, &operation_done_);
  }
  // Ends the call as a client's cancel would (from any thread).
  void Cancel() { ctx_.TryCancel(); }

 private:
  enum class Phase { kAwaited, kReading, kAnswering, kWatching };

  Call(std::shared_ptr<State> state, grpc::ServerCompletionQueue* queue)
      : state_(std::move(state)), queue_(queue), stream_(&ctx_) {}

  // The call's operation completed; `ok` false when it failed (the client
  // went away, or the server is shutting down).
  void Step(bool ok) {
    switch (phase_) {
      case Phase::kAwaited:
        if (!ok) return Release(state_, this);  // the server is shutting down: no RPC came
        Await(state_, queue_);  // the RPC after this one
        state_->active.fetch_add(1);
        phase_ = Phase::kReading;
        return stream_.Read(&in_, &operation_done_);
      case Phase::kReading:
        phase_ = Phase::kAnswering;  // before the answer's operation starts, on whatever thread
        if (!ok) return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the call sent no request message"));
        return OnRequest();
      case Phase::kAnswering:
        { MutexLock lock(&answer_mu_); }  // the thread that started the answer is done with the call
        answered_ = true;
        return EndIfDone();
      case Phase::kWatching:
        return Watched(ok);
    }
  }

  // gRPC is done with the call: answered, cancelled, or the server shut down.
  void Ended(bool) {
    ended_ = true;
    if (phase_ != Phase::kWatching) return EndIfDone();
    bool writing = false;
    {
      MutexLock lock(&state_->watches_mu);
      const auto watch = FindWatch();
      writing = watch->writing;
      state_->watches.erase(watch);
    }
    if (!writing) End();  // else the write's completion ends it
  }

  void EndIfDone() {
    if (answered_ && ended_) End();
  }

  void End() {
    std::shared_ptr<State> state = state_;
    if (counted_) state->requests.fetch_sub(1);
    state->active.fetch_sub(1);
    Release(std::move(state), this);
  }
  // Deletes the call; `state` outlives it here.
  static void Release(std::shared_ptr<State> state, Call* call) {
    delete call;
    if (state->outstanding.fetch_sub(1) == 1) state->outstanding.notify_all();  // Shutdown may be waiting
  }

  void OnRequest() {
    counted_ = true;  // before any check of draining: a drain that reads 0 has seen every call past it
    state_->requests.fetch_add(1);
    body_ = BufferBytes(in_);
    const std::string& method = ctx_.method();
    if (method.starts_with(kHealth)) return Health(std::string_view(method).substr(kHealth.size()));
    if (!method.starts_with(kService)) {
      return Fail(Status(StatusCode::kUnimplemented, "unknown service in " + method +
                                                         " (this server speaks inference.GRPCInferenceService)"));
    }
    Handle(std::string_view(method).substr(kService.size()));
  }

  // The answer may be started on another thread (an io thread) than the one
  // its completion comes to, which then deletes the call. gRPC orders the
  // two, but in code TSan cannot see into, and the starting thread still
  // touches the stream after handing the operation over: it does so under
  // answer_mu_, which Step takes before going on.
  void Finish(const grpc::Status& status) {
    MutexLock lock(&answer_mu_);
    stream_.Finish(status, &operation_done_);
  }

  // grpc.health.v1, unsigned as REST's /v2/health/*.
  void Health(std::string_view rpc) {
    grpc::health::v1::HealthCheckRequest q;
    if (!Parse(&q)) return;
    watched_ = q.service();
    if (rpc == "Check") {
      const auto status = HealthOf(watched_, state_->unready.load());
      if (status == HealthResponse::SERVICE_UNKNOWN) {
        return Fail(Status(StatusCode::kNotFound, "this server has no service " + Quote(watched_)));
      }
      HealthResponse r;
      r.set_status(status);
      return Reply(r);
    }
    if (rpc != "Watch") {
      return Fail(Status(StatusCode::kUnimplemented,
                         "unknown method " + std::string(rpc) + " of grpc.health.v1.Health"));
    }
    {
      MutexLock lock(&state_->watches_mu);
      if (state_->watches.size() < kMaxWatches) {
        phase_ = Phase::kWatching;
        counted_ = false;  // open until cancelled: not a request in flight
        state_->requests.fetch_sub(1);
        state_->watches.push_back({.call = this});
        return Tell(state_->watches.back());
      }
    }
    Fail(Status(StatusCode::kResourceExhausted,
                "the server has " + std::to_string(kMaxWatches) + " health watches open"));
  }

  // A watch's write completed: the status may have changed meanwhile.
  void Watched(bool ok) {
    bool end = false;
    {
      MutexLock lock(&state_->watches_mu);
      if (ended_) {
        end = true;  // its record is gone (Ended)
      } else {
        const auto watch = FindWatch();
        watch->writing = false;
        if (ok && watch->told != HealthOf(watched_, state_->unready.load())) Tell(*watch);
      }
    }
    if (end) End();
  }

  // This watch's record (there is one until Ended erases it).
  std::vector<State::Watch>::iterator FindWatch() REQUIRES(state_->watches_mu) {
    return std::find_if(state_->watches.begin(), state_->watches.end(),
                        [this](const State::Watch& w) { return w.call == this; });
  }

  template <typename Message>
  bool Parse(Message* m) {
    if (m->ParseFromString(body_)) return true;
    Fail(InvalidArgument("the request is not a valid " + m->GetTypeName() + " message"));
    return false;
  }

  void Reply(const google::protobuf::Message& m) {
    out_ = BytesBuffer(m.SerializeAsString());
    MutexLock lock(&answer_mu_);  // see Finish
    stream_.WriteAndFinish(out_, grpc::WriteOptions(), grpc::Status::OK, &operation_done_);
  }
  void Fail(const Status& s) { Finish(ToGrpc(s)); }

  void Handle(std::string_view rpc) {
    if (rpc == "ServerLive") {
      inference::ServerLiveResponse r;
      r.set_live(true);
      return Reply(r);
    }
    if (rpc == "ServerReady") {
      inference::ServerReadyResponse r;
      r.set_ready(!state_->unready.load());
      return Reply(r);
    }
    // One snapshot for the whole request: its key, its instance, its models.
    table_ = state_->engine->table();
    const StatusOr<Caller> caller = Authenticate();
    if (!caller.ok()) return Fail(caller.status());
    caller_ = *caller;
    if (rpc == "ServerMetadata") return ServerMetadata();
    if (rpc == "ModelMetadata") return ModelMetadata();
    if (rpc == "ModelReady") return ModelReady();
    if (rpc == "ModelInfer") return ModelInfer();
    Fail(Status(StatusCode::kUnimplemented, "unknown method " + std::string(rpc) + " of inference.GRPCInferenceService"));
  }

  StatusOr<Caller> Authenticate() {
    const auto& metadata = ctx_.client_metadata();
    const auto it = metadata.find("authorization");
    const std::string_view authorization =
        it == metadata.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
    return state_->gate->Authenticate({"POST", ctx_.method(), body_, authorization}, *table_);
  }

  void ServerMetadata() {
    inference::ServerMetadataResponse r;
    const tbms::ServerMetadata m = V2Api::Server();
    r.set_name(m.name);
    r.set_version(m.version);
    for (const std::string& e : m.extensions) r.add_extensions(e);
    Reply(r);
  }

  void ModelMetadata() {
    inference::ModelMetadataRequest q;
    if (!Parse(&q)) return;
    StatusOr<ModelRef> model = state_->v2.Find(caller_, *table_, q.name(), q.version());
    if (!model.ok()) return Fail(model.status());
    const tbms::ModelMetadata m = V2Api::Metadata(*model);
    inference::ModelMetadataResponse r;
    r.set_name(m.name);
    for (const std::string& v : m.versions) r.add_versions(v);
    r.set_platform(m.platform);
    SpecsToProto(m.inputs, r.mutable_inputs());
    SpecsToProto(m.outputs, r.mutable_outputs());
    Reply(r);
  }

  void ModelReady() {
    inference::ModelReadyRequest q;
    if (!Parse(&q)) return;
    StatusOr<ModelReadiness> ready = state_->v2.Ready(caller_, *table_, q.name(), q.version());
    if (!ready.ok()) return Fail(ready.status());
    inference::ModelReadyResponse r;
    r.set_ready(ready->ready);
    Reply(r);
  }

  // The call's gRPC deadline as a cap on `tloc`; DEADLINE_EXCEEDED when it has passed.
  Status CapByDeadline(Duration* tloc) const {
    const auto deadline = ctx_.deadline();
    if (deadline == std::chrono::system_clock::time_point::max()) return OkStatus();
    const auto left = std::chrono::duration_cast<Duration>(deadline - std::chrono::system_clock::now());
    if (left <= Duration::zero()) return Status(StatusCode::kDeadlineExceeded, "the call's deadline has passed");
    *tloc = std::min(*tloc, left);
    return OkStatus();
  }

  // Takes a slot of the caller's instance quota (as REST does); false after failing the call.
  bool TakeQuota(const InstanceConfig* instance) {
    int retry_after_s = 1;
    if (Status s = state_->gate->TakeQuota(instance, &quota_of_, &retry_after_s); !s.ok()) {
      ctx_.AddTrailingMetadata("retry-after", std::to_string(retry_after_s));
      Fail(s);
      return false;
    }
    return true;
  }

  void ModelInfer() {
    if (state_->draining.load()) return Fail(Unavailable("server is shutting down"));
    inference::ModelInferRequest q;
    if (!Parse(&q)) return;
    if (IsTry(q)) return Try(q);
    StatusOr<ModelRef> model = state_->v2.Find(caller_, *table_, q.model_name(), q.model_version());
    if (!model.ok()) return Fail(model.status());
    StatusOr<InferRequest> request = FromProto(q, state_->v2.options().tensors);
    if (!request.ok()) return Fail(request.status());
    Duration tloc = request->tloc.value_or(state_->v2.options().default_tloc);
    if (Status s = CapByDeadline(&tloc); !s.ok()) return Fail(s);
    request->tloc = tloc;
    if (!caller_.admin) {
      const auto instance = table_->FindInstance(caller_.instance);
      if (instance.ok() && !TakeQuota(*instance)) return;
    }
    const bool raw = q.raw_input_contents_size() > 0;  // answer in the form asked in
    state_->v2.Infer(caller_, table_, *model, std::move(request).value(), [this, raw](StatusOr<InferResponse> r) {
      state_->gate->Release(quota_of_);
      if (!r.ok()) return Fail(r.status());
      inference::ModelInferResponse out;
      ToProto(*r, raw, &out);
      Reply(out);
    });
  }

  void Try(const inference::ModelInferRequest& q) {
    StatusOr<std::string> instance = TryInstance(q, caller_);
    if (!instance.ok()) return Fail(instance.status());
    StatusOr<ParsedTry> parsed = ParseTryProto(q, table_, *instance, state_->options.limits);
    if (!parsed.ok()) return Fail(parsed.status());
    if (Status s = CapByDeadline(&parsed->request.tloc); !s.ok()) return Fail(s);
    if (!TakeQuota(parsed->instance)) return;
    id_ = q.id();
    answer_.Arm();  // see AnswerHandoff
    Status s = state_->engine->Submit(*instance, parsed->task, std::move(parsed->request), [this](TryResult r) {
      if (answer_.Give(std::move(r))) boost::asio::post(state_->io, [this] { ReplyTry(); });
    });
    if (!s.ok()) {
      state_->gate->Release(quota_of_);  // not taken: no answer will release it
      return Fail(s);
    }
    if (answer_.Submitted()) ReplyTry();
  }

  void ReplyTry() {
    state_->gate->Release(quota_of_);
    inference::ModelInferResponse out;
    WriteTryProto(answer_.answer(), id_, &out);
    Reply(out);
  }

  const std::shared_ptr<State> state_;
  grpc::ServerCompletionQueue* const queue_;
  Event operation_done_{this, &Call::Step};  // the tag of each operation
  Event call_ended_{this, &Call::Ended};      // the tag of the call's end
  Phase phase_ = Phase::kAwaited;             // on the queue's thread
  Mutex answer_mu_;                           // held while the answer's operation is started (Finish)
  bool answered_ = false;                     // the answer's operation completed
  bool ended_ = false;                        // gRPC said the call ended
  bool counted_ = false;                      // in State::requests
  std::string watched_;                       // a health call's service
  grpc::GenericServerContext ctx_;
  grpc::GenericServerAsyncReaderWriter stream_;
  grpc::ByteBuffer in_, out_;
  std::string body_;  // the request message's bytes, as signed
  std::shared_ptr<const ModelTable> table_;
  Caller caller_;
  std::string quota_of_;  // the instance whose quota slot this call holds
  std::string id_;
  AnswerHandoff answer_;  // a try's
};

namespace {

// RPCs each queue has asked for ahead: each one taken asks for the next, so
// this only bounds how many a burst finds waiting.
constexpr int kAwaitedPerQueue = 16;

}  // namespace

// `state` is held by the thread (its copy), so the calls it serves find it alive.
void GrpcServer::ServeQueue(const std::shared_ptr<State>& /*state*/, grpc::ServerCompletionQueue* queue) {
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) {
    const auto* event = static_cast<const Call::Event*>(tag);
    (event->call->*event->completed)(ok);
  }
}

GrpcServer::GrpcServer(Options options, Engine* engine, std::shared_ptr<Gate> gate, boost::asio::any_io_executor io)
    : state_(std::make_shared<State>(std::move(options), engine, std::move(gate), std::move(io))) {}

GrpcServer::~GrpcServer() {
  if (server_) Shutdown();
}

Status GrpcServer::Start() {
  const Options& o = state_->options;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!o.tls_cert.empty() || !o.tls_key.empty()) {
    if (o.tls_cert.empty() || o.tls_key.empty()) return InvalidArgument("TLS needs both a certificate and a key");
    StatusOr<std::string> cert = ReadPemFile(o.tls_cert, "TLS file"), key = ReadPemFile(o.tls_key, "TLS file");
    if (!cert.ok()) return cert.status();
    if (!key.ok()) return key.status();
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    credentials = grpc::SslServerCredentials(ssl);
  }
  grpc::EnableDefaultHealthCheckService(false);  // served on the queues (Call::Health): no callback threads
  grpc::ServerBuilder builder;
  const std::string address =
      (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  int port = 0;
  builder.AddListeningPort(address, credentials, &port);
  builder.RegisterAsyncGenericService(&state_->service);
  for (int i = 0; i < o.threads; ++i) state_->queues.push_back(builder.AddCompletionQueue());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(o.max_message_bytes, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.max_streams_per_connection);
  const int64_t idle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(o.idle_timeout).count();
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, static_cast<int>(std::min<int64_t>(idle_ms, INT32_MAX)));
  // A peer gone without a word (its calls or watches open) is found by a
  // ping it does not answer; and no connection lives past an age, so calls
  // that hold a stream without ever sending a message do not last: the
  // grace outlasts the longest try (kMaxTloc), which is never cut short.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, kKeepaliveMs);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, kKeepaliveTimeoutMs);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, kMaxConnectionAgeMs);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS, kMaxConnectionAgeGraceMs);
  // gRPC binds with SO_REUSEPORT by default: a second server on the port
  // would share its calls silently instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    StopQueues();
    return Unavailable("cannot serve gRPC on " + address + " (in use, or not an address of this machine)");
  }
  port_ = static_cast<uint16_t>(port);
  // Asked for here, before any thread serves: a Shutdown right after Start
  // counts them (State::outstanding) before it shuts the queues.
  for (auto& queue : state_->queues) {
    for (int i = 0; i < kAwaitedPerQueue; ++i) Call::Await(state_, queue.get());
  }
  for (auto& queue : state_->queues) state_->threads.emplace_back(ServeQueue, state_, queue.get());
  return OkStatus();
}

void GrpcServer::Unready() {
  if (state_->unready.exchange(true)) return;
  MutexLock lock(&state_->watches_mu);
  for (State::Watch& watch : state_->watches) {
    if (!watch.writing) watch.call->Tell(watch);  // else its write's completion tells it
  }
}

void GrpcServer::Drain() {
  Unready();
  state_->draining.store(true);
}

void GrpcServer::Shutdown() {
  if (!server_) return;  // not started, or shut down already
  Drain();
  {
    MutexLock lock(&state_->watches_mu);  // told NOT_SERVING by Drain; then they end, as nothing will change
    for (State::Watch& watch : state_->watches) watch.call->Cancel();
  }
  // Calls still open are cancelled after a second; each then finishes on its
  // queue (a try once the engine answers it), so the queues serve until none is left.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  for (size_t n = state_->outstanding.load(); n != 0; n = state_->outstanding.load()) state_->outstanding.wait(n);
  StopQueues();
  server_.reset();
}

void GrpcServer::StopQueues() {
  for (auto& queue : state_->queues) queue->Shutdown();
  for (std::thread& t : state_->threads) t.join();  // each drains its queue
  if (state_->threads.empty()) {  // never served: nothing was asked for, but gRPC wants each queue drained
    void* tag = nullptr;
    bool ok = false;
    for (auto& queue : state_->queues) {
      while (queue->Next(&tag, &ok)) {
      }
    }
  }
  state_->threads.clear();
}

size_t GrpcServer::active_requests() const { return state_->requests.load(); }

size_t GrpcServer::open_calls() const { return state_->active.load(); }

}  // namespace tbms
