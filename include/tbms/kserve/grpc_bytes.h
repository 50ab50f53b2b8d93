// KServe v2 gRPC messages as the bytes that travel. The gRPC edge, the
// remote transport and the gRPC client send and receive serialized messages
// themselves (generic calls), so that a signature covers exactly what is on
// the wire. The clients' channel and blocking call are made here too, once.
// Thread-safe.
#pragma once

// TBMS's headers first: Abseil (under gRPC) redefines the thread-safety
// annotation macros of tbms/common/mutex.h, silently only in that order.
#include "tbms/common/cancellation.h"
#include "tbms/common/status.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <functional>
#include <memory>
#include <string>

namespace tbms {

// The buffer's bytes in one string (empty if it cannot be read).
std::string BufferBytes(const grpc::ByteBuffer& buffer);
// One slice holding a copy of `bytes`.
grpc::ByteBuffer BytesBuffer(const std::string& bytes);

// A PEM file's text, for gRPC's TLS credentials (which take PEM text, not
// paths); INVALID_ARGUMENT naming `what` and the path when it cannot be read.
StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& what);

// A call's gRPC status as the Status of the same canonical code (INTERNAL
// for a code TBMS does not use, naming it).
Status FromGrpcStatus(const grpc::Status& s);

// The largest message a TBMS client takes (gRPC's default is 4 MiB).
inline constexpr int kMaxGrpcMessageBytes = 64 << 20;

// A client channel to HOST:PORT: plain text, or TLS trusting `ca_file`'s CA
// (the system's when empty). A name with several addresses (a Kubernetes
// headless Service) has every address take calls, round robin, re-resolved
// as they change; a server back from a restart is found within 2 s.
// INVALID_ARGUMENT naming `what` when the CA file cannot be read.
StatusOr<std::shared_ptr<grpc::Channel>> MakeClientChannel(const std::string& address, bool tls,
                                                           const std::string& ca_file, const std::string& what);

// One unary call of `method` (its full path) with the serialized `request`,
// blocking until it ends (bounded by `ctx`'s deadline); the response's bytes
// go to `response`. Cancelling `cancel`, when given, cancels the call
// (CANCELLED), at any point, even before it starts.
grpc::Status CallUnary(grpc::GenericStub& stub, grpc::ClientContext& ctx, const std::string& method,
                       const std::string& request, std::string* response, const Cancellation* cancel = nullptr);

}  // namespace tbms
