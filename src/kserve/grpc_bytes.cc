#include "tbms/kserve/grpc_bytes.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <vector>

namespace tbms {

std::string BufferBytes(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const grpc::Slice& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return out;
}

grpc::ByteBuffer BytesBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty()) return InvalidArgument("cannot read " + what + " " + path);
  return text.str();
}

Status FromGrpcStatus(const grpc::Status& s) {
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

StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(const std::string& address, bool tls,
                                                           const std::string& ca_file, const std::string& what) {
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (tls) {
    grpc::SslCredentialsOptions ssl;
    if (!ca_file.empty()) {
      StatusOr<std::string> ca = ReadPemFile(ca_file, what);
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = std::move(ca).value();
    }
    credentials = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxGrpcMessageBytes);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel("dns:///" + address, credentials, args);
}

grpc::Status CallUnary(grpc::GenericStub& stub, grpc::ClientContext& ctx, const std::string& method,
                       const std::string& request, std::string* response, const Cancellation* cancel) {
  grpc::ByteBuffer in = BytesBuffer(request), out;
  // TryCancel is safe from any thread, and before the call starts.
  const std::function<void()> stop = [&ctx] { ctx.TryCancel(); };
  const Cancellation::Registration listening(cancel, stop);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &in, &out, [&done](grpc::Status s) { done.set_value(s); });
  const grpc::Status s = done.get_future().get();  // bounded by the deadline
  if (s.ok()) *response = BufferBytes(out);
  return s;
}

}  // namespace tbms
