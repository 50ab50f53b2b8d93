// KServe v2 gRPC messages as the bytes that travel. The gRPC edge and the
// remote transport send and receive serialized messages themselves (generic
// calls), so that a signature covers exactly what is on the wire.
// Pure functions; thread-safe.
#pragma once

#include <grpcpp/support/byte_buffer.h>

#include <string>

#include "tbms/common/status.h"

namespace tbms {

// The buffer's bytes in one string (empty if it cannot be read).
std::string BufferBytes(const grpc::ByteBuffer& buffer);
// One slice holding a copy of `bytes`.
grpc::ByteBuffer BytesBuffer(const std::string& bytes);

// A PEM file's text, for gRPC's TLS credentials (which take PEM text, not
// paths); INVALID_ARGUMENT naming `what` and the path when it cannot be read.
StatusOr<std::string> ReadPemFile(const std::string& path, const std::string& what);

}  // namespace tbms
