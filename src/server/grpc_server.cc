#include "tbms/server/grpc_server.h"

#include <boost/asio/post.hpp>
#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "kserve/grpc_service.pb.h"
#include "tbms/kserve/grpc_bytes.h"
#include "tbms/kserve/v2_proto.h"
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
  std::atomic<bool> unready{false};
  std::atomic<bool> draining{false};
  std::atomic<size_t> active{0};
};

namespace {

constexpr std::string_view kServiceName = "inference.GRPCInferenceService";
constexpr std::string_view kService = "/inference.GRPCInferenceService/";  // the RPCs' path prefix

grpc::Status ToGrpc(const Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), s.message());  // the same canonical codes
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

// One RPC: reads its one request message, answers once, then deletes itself.
class GrpcServer::Call : public grpc::ServerGenericBidiReactor {
 public:
  Call(std::shared_ptr<State> state, grpc::GenericCallbackServerContext* ctx)
      : state_(std::move(state)), ctx_(ctx) {
    state_->active.fetch_add(1);
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the call sent no request message"));
    body_ = BufferBytes(in_);
    const std::string& method = ctx_->method();
    if (!method.starts_with(kService)) {
      return Fail(Status(StatusCode::kUnimplemented, "unknown service in " + method +
                                                         " (this server speaks inference.GRPCInferenceService)"));
    }
    Handle(std::string_view(method).substr(kService.size()));
  }
  void OnDone() override {
    state_->active.fetch_sub(1);
    delete this;
  }

 private:
  template <typename Message>
  bool Parse(Message* m) {
    if (m->ParseFromString(body_)) return true;
    Fail(InvalidArgument("the request is not a valid " + m->GetTypeName() + " message"));
    return false;
  }

  void Reply(const google::protobuf::Message& m) {
    out_ = BytesBuffer(m.SerializeAsString());
    StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
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
    const auto& metadata = ctx_->client_metadata();
    const auto it = metadata.find("authorization");
    const std::string_view authorization =
        it == metadata.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
    return state_->gate->Authenticate({"POST", ctx_->method(), body_, authorization}, *table_);
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
    const auto deadline = ctx_->deadline();
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
      ctx_->AddTrailingMetadata("retry-after", std::to_string(retry_after_s));
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
    // As V2Api::Infer: the Done stores the answer in answer_, and whichever of
    // the Done and this call comes second replies; never from the core's context.
    Status s = state_->engine->Submit(*instance, parsed->task, std::move(parsed->request), [this](TryResult r) {
      answer_ = std::move(r);
      if (!answer_taken_.exchange(true, std::memory_order_acq_rel)) return;  // Try replies
      boost::asio::post(state_->io, [this] { ReplyTry(); });
    });
    if (!s.ok()) {
      state_->gate->Release(quota_of_);  // not taken: no answer will release it
      return Fail(s);
    }
    if (answer_taken_.exchange(true, std::memory_order_acq_rel)) ReplyTry();  // answered already
  }

  void ReplyTry() {
    state_->gate->Release(quota_of_);
    inference::ModelInferResponse out;
    WriteTryProto(answer_, id_, &out);
    Reply(out);
  }

  const std::shared_ptr<State> state_;
  grpc::GenericCallbackServerContext* const ctx_;
  grpc::ByteBuffer in_, out_;
  std::string body_;  // the request message's bytes, as signed
  std::shared_ptr<const ModelTable> table_;
  Caller caller_;
  std::string quota_of_;  // the instance whose quota slot this call holds
  std::string id_;
  TryResult answer_;
  std::atomic<bool> answer_taken_{false};
};

class GrpcServer::Service : public grpc::CallbackGenericService {
 public:
  explicit Service(std::shared_ptr<State> state) : state_(std::move(state)) {}
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override {
    return new Call(state_, ctx);
  }

 private:
  const std::shared_ptr<State> state_;
};

GrpcServer::GrpcServer(Options options, Engine* engine, std::shared_ptr<Gate> gate, boost::asio::any_io_executor io)
    : state_(std::make_shared<State>(std::move(options), engine, std::move(gate), std::move(io))),
      service_(std::make_unique<Service>(state_)) {}

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
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  const std::string address =
      (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
  int port = 0;
  builder.AddListeningPort(address, credentials, &port);
  builder.RegisterCallbackGenericService(service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<size_t>(o.max_message_bytes, INT32_MAX)));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.max_streams_per_connection);
  server_ = builder.BuildAndStart();
  if (!server_ || port == 0) {
    server_.reset();
    return Unavailable("cannot serve gRPC on " + address + " (in use, or not an address of this machine)");
  }
  port_ = static_cast<uint16_t>(port);
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  health->SetServingStatus(std::string(kServiceName), true);  // Drain's SetServingStatus(false) covers it too
  health->SetServingStatus(true);
  return OkStatus();
}

void GrpcServer::Unready() {
  if (state_->unready.exchange(true)) return;
  if (server_) server_->GetHealthCheckService()->SetServingStatus(false);
}

void GrpcServer::Drain() {
  Unready();
  state_->draining.store(true);
}

void GrpcServer::Shutdown() {
  Drain();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
}

size_t GrpcServer::active_requests() const { return state_->active.load(); }

}  // namespace tbms
