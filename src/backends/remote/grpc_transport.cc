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

#include "kserve/grpc_service.pb.h"

namespace tbms {
namespace {

class GrpcTransport final : public RemoteTransport {
 public:
  GrpcTransport(std::shared_ptr<grpc::Channel> channel, const RemoteConfig& remote)
      : channel_(std::move(channel)), stub_(channel_), remote_(remote) {}

  StatusOr<InferResponse> Infer(const InferRequest& request, Duration timeout, const Cancellation* abandoned) override {
    inference::ModelInferRequest m;
    ToProto(request, &m);
    m.set_model_name(remote_.model);
    m.set_model_version(remote_.version);
    inference::ModelInferResponse r;
    TBMS_RETURN_IF_ERROR(Call("ModelInfer", m, &r, timeout, abandoned));
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
  // The call is cancelled when `abandoned` (when given) is.
  Status Call(const std::string& rpc, const google::protobuf::Message& request, google::protobuf::Message* response,
              Duration timeout, const Cancellation* abandoned = nullptr) {
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
    std::string answer;
    const grpc::Status s = CallUnary(stub_, ctx, path, bytes, &answer, abandoned);
    if (!s.ok()) return FromGrpcStatus(s);
    if (!response->ParseFromString(answer)) return Internal("the remote's " + rpc + " response is not a valid message");
    return OkStatus();
  }

  const std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  const RemoteConfig remote_;
};

}  // namespace

StatusOr<std::unique_ptr<RemoteTransport>> MakeGrpcTransport(const RemoteConfig& remote,
                                                             const std::string& endpoint) {
  auto channel = MakeClientChannel(endpoint, remote.tls, remote.ca_file, "ca_file");
  if (!channel.ok()) return channel.status();
  return std::unique_ptr<RemoteTransport>(new GrpcTransport(std::move(channel).value(), remote));
}

}  // namespace tbms
