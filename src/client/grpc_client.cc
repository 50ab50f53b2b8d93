// TBMS's headers before gRPC's: see src/backends/remote/grpc_transport.cc.
#include "tbms/client/grpc_client.h"
#include "checks.h"
#include "tbms/client/grpc_try.h"
#include "tbms/common/time.h"
#include "tbms/kserve/grpc_bytes.h"

#include <grpcpp/grpcpp.h>

#include <charconv>
#include <chrono>
#include <optional>

namespace tbms::client {
namespace {

// HOST:PORT, the host a name, an IPv4 address or a bracketed IPv6 one.
Status CheckAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon != std::string::npos && colon > 0 && address.find_first_of("/") == std::string::npos) {
    const char* digits = address.data() + colon + 1;
    const char* end = address.data() + address.size();
    const auto [at, error] = std::from_chars(digits, end, port);
    if (error != std::errc() || at != end || digits == end) port = 0;
  }
  if (port < 1 || port > 65535) {
    return InvalidArgument("address must be HOST:PORT, the port in 1-65535 (e.g. 127.0.0.1:8001), got '" + address +
                           "'");
  }
  return OkStatus();
}

}  // namespace

struct GrpcClient::Channel {
  Channel(std::shared_ptr<grpc::Channel> channel, std::optional<AccessKey> k) : stub(std::move(channel)), key(std::move(k)) {}
  grpc::GenericStub stub;  // holds the channel
  const std::optional<AccessKey> key;
};

StatusOr<std::unique_ptr<GrpcClient>> GrpcClient::Create(Options options) {
  TBMS_RETURN_IF_ERROR(CheckAddress(options.address));
  TBMS_RETURN_IF_ERROR(CheckInstance(options.instance));
  auto key = CheckKey(options.access_id, options.access_key, options.instance);
  if (!key.ok()) return key.status();
  TBMS_RETURN_IF_ERROR(CheckRequestTimeout(options.request_timeout_ms));
  auto channel = MakeClientChannel(options.address, options.tls || !options.ca_file.empty(), options.ca_file,
                                   "ca_file");
  if (!channel.ok()) return channel.status();
  auto c = std::make_unique<Channel>(std::move(channel).value(), std::move(key).value());
  return std::unique_ptr<GrpcClient>(new GrpcClient(std::move(options), std::move(c)));
}

GrpcClient::GrpcClient(Options options, std::unique_ptr<Channel> channel)
    : options_(std::move(options)), channel_(std::move(channel)) {}

GrpcClient::~GrpcClient() = default;

StatusOr<inference::ModelInferResponse> GrpcClient::TryResponse(const TryRequest& request) {
  auto message = TryMessage(request, options_.instance);
  if (!message.ok()) return message.status();
  const std::string bytes = message->SerializeAsString();
  const double timeout_ms = options_.request_timeout_ms > 0 ? options_.request_timeout_ms : TryTimeoutMs(request);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + Millis(timeout_ms));
  if (channel_->key) ctx.AddMetadata("authorization", SignTryMessage(*channel_->key, bytes));
  std::string answer;
  const grpc::Status s = CallUnary(channel_->stub, ctx, std::string(kGrpcTryPath), bytes, &answer);
  if (!s.ok()) {
    const Status error = FromGrpcStatus(s);
    return Status(error.code(), "gRPC " + std::string(StatusCodeName(error.code())) + ": " + error.message());
  }
  inference::ModelInferResponse response;
  if (!response.ParseFromString(answer)) return Internal("the response is not a ModelInferResponse");
  return response;
}

StatusOr<TryResult> GrpcClient::Try(const TryRequest& request) {
  auto response = TryResponse(request);
  if (!response.ok()) return response.status();
  return ParseTryMessage(*response);
}

}  // namespace tbms::client
