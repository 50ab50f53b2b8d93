// The REST transport of a remote model: KServe v2 JSON over the C++
// client (keep-alive connections, TLS with a CA file, a TBMS signature or a
// bearer token).
#include "tbms/backends/remote/remote_backend.h"
#include "tbms/client/client.h"
#include "tbms/kserve/v2_json.h"

namespace tbms {
namespace {

class HttpTransport final : public RemoteTransport {
 public:
  HttpTransport(std::unique_ptr<client::Client> client, const RemoteConfig& remote)
      : client_(std::move(client)),
        model_path_("/v2/models/" + remote.model + (remote.version.empty() ? "" : "/versions/" + remote.version)) {}

  StatusOr<InferResponse> Infer(const InferRequest& request, Duration timeout, const Cancellation* abandoned) override {
    std::string body;
    WriteInferRequest(request, body);
    StatusOr<client::HttpResponse> r = client_->Call("POST", model_path_ + "/infer", body, timeout, abandoned);
    if (!r.ok()) return r.status();
    if (r->status != 200) return client::StatusFromHttp(r->status, r->body);
    StatusOr<InferResponse> parsed = ParseInferResponse(r->body);
    if (!parsed.ok()) return Internal("a malformed infer response: " + parsed.status().message());
    return parsed;
  }

  Status Ready(Duration timeout) override {
    StatusOr<client::HttpResponse> r = client_->Call("GET", model_path_ + "/ready", "", timeout);
    if (!r.ok()) return r.status();
    return r->status == 200 ? OkStatus() : client::StatusFromHttp(r->status, r->body);
  }

 private:
  const std::unique_ptr<client::Client> client_;
  const std::string model_path_;  // /v2/models/{m}[/versions/{v}]
};

}  // namespace

StatusOr<std::unique_ptr<RemoteTransport>> MakeHttpTransport(const RemoteConfig& remote,
                                                             const std::string& endpoint) {
  client::Client::Options o;
  o.endpoint = (remote.tls ? "https://" : "http://") + endpoint;
  o.access_id = remote.key.id;
  o.access_key = remote.key.secret;
  o.bearer_token = remote.bearer;
  o.ca_file = remote.ca_file;
  o.connect_timeout_ms = ToMillis(remote.connect_timeout);
  o.max_idle_connections = static_cast<size_t>(remote.in_flight);
  o.user_agent = "tbms-remote";
  auto c = client::Client::Create(o);
  if (!c.ok()) return c.status();
  return std::unique_ptr<RemoteTransport>(new HttpTransport(std::move(c).value(), remote));
}

}  // namespace tbms
