// The gRPC transport of a remote model: KServe v2 ModelInfer and ModelReady
// on one channel per endpoint (gRPC reconnects, re-resolves a DNS name
// itself and spreads calls over all its addresses). Messages are serialized once and sent as bytes, so a TBMS
// remote's signature covers exactly what travels.
// TBMS's headers first: Abseil (under gRPC) redefines the thread-safety
// annotation macros of tbms/common/mutex.h, silently only in that order.
#include "tbms/backends/remote/remote_backend.h"
#include "tbms/auth/signing.h"
#include "tbms/kserve/grpc_bytes.h"
#include "tbms/kserve/v2_proto.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <future>

#include "kserve/grpc_service.pb.h"

namespace tbms {
namespace {

Status FromGrpc(const grpc::Status& s) {
  switch (s.error_code()) {
    case grpc::StatusCode::OK: return OkStatus();
    case grpc::StatusCode::CANCELLED: case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::DEADLINE_EXCEEDED: case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS: case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED: case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::UNIMPLEMENTED: case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE: case grpc::StatusCode::UNAUTHENTICATED:
      return Status(static_cast<StatusCode>(s.error_code()), s.error_message());  // the same canonical codes
    default: return Internal("gRPC status " + std::to_string(s.error_code()) + ": " + s.error_message());
  }
}

class GrpcTransport final : public RemoteTransport {
 public:
  GrpcTransport(std::shared_ptr<grpc::Channel> channel, const RemoteConfig& remote)
      : channel_(std::move(channel)), stub_(channel_), remote_(remote) {}

  StatusOr<InferResponse> Infer(const InferRequest& request, Duration timeout, const Abandoned& abandoned) override {
    inference::ModelInferRequest m;
    ToProto(request, &m);
    m.set_model_name(remote_.model);
    m.set_model_version(remote_.version);
    inference::ModelInferResponse r;
    TBMS_RETURN_IF_ERROR(Call("ModelInfer", m, &r, timeout, &abandoned));
    StatusOr<InferResponse> parsed = FromProto(r);
    if (!parsed.ok()) return Internal("a malformed infer response: " + parsed.status().message());
    return parsed;
  }

  Status Ready(Duration timeout) override {
    inference::ModelReadyRequest q;
    q.set_name(remote_.model);
    q.set_version(remote_.version);
    inference::ModelReadyResponse r;
    TBMS_RETURN_IF_ERROR(Call("ModelReady", q, &r, timeout));
    return r.ready() ? OkStatus() : Unavailable("model '" + remote_.model + "' is not ready there");
  }

 private:
  // Polls `abandoned` (when given) every millisecond while the call is out.
  Status Call(const std::string& rpc, const google::protobuf::Message& request, google::protobuf::Message* response,
              Duration timeout, const Abandoned* abandoned = nullptr) {
    const std::string path = "/inference.GRPCInferenceService/" + rpc;
    const std::string bytes = request.SerializeAsString();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + timeout);
    if (!remote_.key.id.empty()) {
      const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count();
      ctx.AddMetadata("authorization", AuthorizationHeader(remote_.key, "POST", path, bytes, now, NewNonce()));
    } else if (!remote_.bearer.empty()) {
      ctx.AddMetadata("authorization", "Bearer " + remote_.bearer);
    }
    grpc::ByteBuffer in = BytesBuffer(bytes), out;
    std::promise<grpc::Status> done;
    stub_.UnaryCall(&ctx, path, grpc::StubOptions(), &in, &out, [&done](grpc::Status s) { done.set_value(s); });
    std::future<grpc::Status> answer = done.get_future();
    bool cancelled = false;
    while (abandoned != nullptr && answer.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready) {
      if (!cancelled && (*abandoned)()) {
        ctx.TryCancel();
        cancelled = true;
      }
    }
    const grpc::Status s = answer.get();  // bounded by the deadline
    if (!s.ok()) return FromGrpc(s);
    if (!response->ParseFromString(BufferBytes(out))) return Internal("the remote's " + rpc + " response is not a valid message");
    return OkStatus();
  }

  const std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  const RemoteConfig remote_;
};

}  // namespace

StatusOr<std::unique_ptr<RemoteTransport>> MakeGrpcTransport(const RemoteConfig& remote,
                                                             const std::string& endpoint) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (remote.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!remote.ca_file.empty()) {
      StatusOr<std::string> ca = ReadPemFile(remote.ca_file, "ca_file");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = std::move(ca).value();
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);  // an endpoint back from a restart is found soon
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  // A DNS name with several addresses (a Kubernetes headless Service): every
  // address takes calls, and gRPC re-resolves the name as pods come and go.
  args.SetLoadBalancingPolicyName("round_robin");
  auto channel = grpc::CreateCustomChannel("dns:///" + endpoint, credentials, args);
  return std::unique_ptr<RemoteTransport>(new GrpcTransport(std::move(channel), remote));
}

}  // namespace tbms
