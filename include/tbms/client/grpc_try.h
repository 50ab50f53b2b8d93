// A try over the KServe v2 gRPC edge (docs/api.md, "A try over gRPC"): the
// ModelInfer message of a TryRequest, and the TryResult of its response —
// the same types as the REST client's (try.h). A library of its own
// (tbms_client_grpc), so that REST-only users need neither gRPC nor
// protobuf. Pure functions; thread-safe.
#pragma once

#include <string_view>

#include "kserve/grpc_service.pb.h"
#include "tbms/auth/signing.h"
#include "tbms/client/try.h"
#include "tbms/common/status.h"

namespace tbms::client {

// The RPC a try is: its path, which a TBMS key signs (method POST).
inline constexpr std::string_view kGrpcTryPath = "/inference.GRPCInferenceService/ModelInfer";

// The ModelInfer of `request` for `instance`. INVALID_ARGUMENT where gRPC
// cannot say it: tloc and crossLag are whole milliseconds there.
StatusOr<inference::ModelInferRequest> TryMessage(const TryRequest& request, std::string_view instance);

// The `authorization` metadata of a try whose serialized ModelInfer is
// `message`: signed as a REST request is (POST, kGrpcTryPath, the bytes as
// sent), now, with a fresh nonce.
std::string SignTryMessage(const AccessKey& key, std::string_view message);

// The result a try's response reports; INTERNAL when it is not one.
StatusOr<TryResult> ParseTryMessage(const inference::ModelInferResponse& response);

}  // namespace tbms::client
