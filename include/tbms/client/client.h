// Client: calls one TBMS server from C++ — tries (ranked models, mixes or a
// task), the report, KServe v2 infer — signing every request with an access
// key (TBMS-HMAC-SHA256, docs/security.md) and keeping connections alive
// between calls. Blocking: each call runs on the calling thread, bounded by
// its timeouts.
//
//   auto client = tbms::client::Client::Create({.endpoint = "http://127.0.0.1:8000",
//       .access_id = "nianjianQA-1", .access_key = key, .instance = "nianjianQA"});
//   if (!client.ok()) return Fail(client.status());
//   auto r = (*client)->Try({.question = "what is a broker?",
//       .models = {{"embedding", 35}, {"svm", 25}, {"bayes", 15}}, .tloc_ms = 50});
//   if (r.ok()) std::cout << r->answer_text << " (" << r->model << ")\n";
//
// Errors are canonical statuses carrying the server's {"error"} message:
// 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404
// NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE (see StatusFromHttp);
// no response in time is DEADLINE_EXCEEDED; a server that cannot be reached
// (or a TLS handshake that fails) UNAVAILABLE. No answer within tloc is not
// an error: an OK TryResult without an answer, and with a reason.
//
// Thread safety: safe for concurrent use. A call takes an idle keep-alive
// connection from a small pool (or opens a new one), uses it alone, and
// gives it back; at most max_idle_connections stay open between calls, none
// older than max_connection_age_ms.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/auth/signing.h"
#include "tbms/client/http.h"
#include "tbms/client/try.h"
#include "tbms/common/cancellation.h"
#include "tbms/common/mutex.h"
#include "tbms/common/status.h"
#include "tbms/common/time.h"

namespace boost::asio::ssl {
class context;
}

namespace tbms::client {

// The largest response body a call reads: as a gRPC client's largest
// message (kserve/grpc_bytes.h).
inline constexpr uint64_t kMaxResponseBytes = uint64_t{64} << 20;

class Client {
 public:
  struct Options {
    std::string endpoint = "";    // http(s)://HOST[:PORT][/PREFIX], a prefix for a proxy's route (see ParseUrl)
    std::string access_id = "";   // with access_key, every request is signed; both empty: unsigned
    std::string access_key = "";  //   (a server in --insecure-dev); never logged or echoed
    std::string instance = "default";  // whose tries: 1-128 characters of [A-Za-z0-9._-]
    double connect_timeout_ms = 5000;  // TCP connect and TLS handshake, within the call's own timeout
                                       // (the name's lookup is the system resolver's, unbounded here)
    double request_timeout_ms = 0;  // sending to the response's last byte; 0: a try's
                                    // tloc + 1000 ms (11 s without tloc), 5000 ms for other calls
    std::string ca_file = "";  // https: trust only this CA (PEM); empty: the system's CAs
    size_t max_idle_connections = 4;  // kept alive between calls; 0: a new connection per call
    // A kept-alive connection this old is closed rather than reused, so a
    // name whose addresses change (a Kubernetes headless Service) is
    // resolved again and new servers get calls; 0: no limit. New
    // connections start at the next address of the name, round robin.
    double max_connection_age_ms = 30000;
    std::string user_agent = "tbms-client";
    std::string bearer_token = "";  // unsigned requests carry "Authorization: Bearer <it>" (not a TBMS server's)
  };

  // INVALID_ARGUMENT for a bad endpoint, an instance outside the name rule,
  // an access id without a key (or the reverse), a timeout <= 0 (or < 0 for
  // the request), or a CA file that cannot be used. Connects lazily.
  static StatusOr<std::unique_ptr<Client>> Create(Options options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // POST /v1/instances/{instance}/try.
  StatusOr<TryResult> Try(const TryRequest& request);
  // GET /v1/report: the report's JSON text (an instance key's part of it).
  StatusOr<std::string> Report();
  // POST /v2/models/{model}[/versions/{version}]/infer with a KServe v2
  // request body; the response's JSON text.
  StatusOr<std::string> Infer(std::string_view model, std::string_view request_json,
                              std::string_view version = "");
  // Any endpoint, signed like the others; every HTTP status is OK here (the
  // caller reads it), only transport errors and timeouts are not. When
  // `cancel` is given and cancelled (from any thread) while the call is
  // out, or before it, the connection is shut (the server sees the client
  // go) and the call answers CANCELLED.
  StatusOr<HttpResponse> Call(std::string_view method, std::string_view target, std::string_view body,
                              Duration timeout, const Cancellation* cancel = nullptr);

  const Options& options() const { return options_; }

 private:
  struct Connection;  // client.cc
  Client(Options options, Url url, std::optional<AccessKey> key,
         std::shared_ptr<boost::asio::ssl::context> tls);
  StatusOr<std::unique_ptr<Connection>> Connect(std::chrono::steady_clock::time_point deadline,
                                                const Cancellation* cancel);
  Status Abandoned() const;  // CANCELLED: the call's caller gave it up
  std::unique_ptr<Connection> TakeIdle() EXCLUDES(mu_);
  size_t NextAddress() EXCLUDES(mu_);
  void GiveBack(std::unique_ptr<Connection> conn) EXCLUDES(mu_);
  Duration RequestTimeout(double default_ms) const;

  // Constant after construction.
  const Options options_;
  const Url url_;
  const std::optional<AccessKey> key_;  // none: unsigned requests
  const std::shared_ptr<boost::asio::ssl::context> tls_;  // null: plain HTTP
  const std::string try_target_;  // /v1/instances/{instance}/try

  Mutex mu_;
  std::vector<std::unique_ptr<Connection>> idle_ GUARDED_BY(mu_);  // most recently used last
  size_t next_address_ GUARDED_BY(mu_) = 0;  // where the next connection starts among the name's addresses
};

}  // namespace tbms::client
