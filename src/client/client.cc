#include "tbms/client/client.h"

#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>

#include "checks.h"

namespace tbms::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

// One keep-alive connection with its own io_context, so that calls on
// different connections run on their callers' threads without sharing one.
// Used by one call at a time (taken out of the pool for it).
struct Client::Connection {
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  asio::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;                  // http://
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;  // https://
  beast::flat_buffer buffer;

  beast::tcp_stream& tcp() { return secure ? beast::get_lowest_layer(*secure) : *plain; }

  // Sends `wire` and reads one response, bounded by the stream's timer.
  // Cancelling `cancel` (when given) has the socket closed on this
  // connection's own io_context (posted: the canceller's thread does not
  // touch a socket the timer may be closing), so the pending write or read
  // fails and the exchange ends with operation_aborted. A close posted
  // after the exchange never runs: a cancelled connection is not reused.
  beast::error_code Exchange(const std::string& wire, http::response_parser<http::string_body>& parser,
                             const Cancellation* cancel) {
    const std::function<void()> stop = CloseOnCancel();  // outlives the registration, which keeps a pointer to it
    const Cancellation::Registration listening(cancel, stop);
    const beast::error_code ec = secure ? Exchange(*secure, wire, parser) : Exchange(*plain, wire, parser);
    return Aborted(ec, cancel);
  }
  // What stops the connection's pending operation, from any thread.
  std::function<void()> CloseOnCancel() {
    return [this] {
      asio::post(ioc, [this] {
        beast::error_code ignored;
        // Closed, not cancelled: a cancel would move a connect under way on to the name's next address.
        tcp().socket().close(ignored);
      });
    };
  }
  static beast::error_code Aborted(const beast::error_code& ec, const Cancellation* cancel) {
    return cancel != nullptr && cancel->cancelled() && ec ? asio::error::operation_aborted : ec;
  }

 private:
  template <class Stream>
  beast::error_code Exchange(Stream& stream, const std::string& wire, http::response_parser<http::string_body>& parser) {
    beast::error_code ec;
    ioc.restart();
    // The header first: Beast 1.74 loses a response's body_limit error for
    // a Content-Length past it when it reads on eagerly, as async_read does.
    auto read_body = [&](beast::error_code e, size_t) {
      ec = e;
      if (ec) return;
      if (parser.content_length() && *parser.content_length() > kMaxResponseBytes) {
        ec = http::error::body_limit;
        return;
      }
      if (!parser.is_done()) http::async_read(stream, buffer, parser, [&](beast::error_code e2, size_t) { ec = e2; });
    };
    asio::async_write(stream, asio::buffer(wire), [&](beast::error_code e, size_t) {
      ec = e;
      if (!e) http::async_read_header(stream, buffer, parser, read_body);
    });
    ioc.run();
    return ec;
  }
};

namespace {

int64_t NowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A client TLS context that verifies servers against the system's CAs, or
// only against `ca_file` when given.
StatusOr<std::shared_ptr<asio::ssl::context>> ClientTls(const std::string& ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  beast::error_code ec;
  if (ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(ca_file, ec);
  }
  if (ec) {
    return InvalidArgument("cannot use " + (ca_file.empty() ? "the system's CAs" : "ca_file " + ca_file) + ": " +
                           ec.message());
  }
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

// How a kept-alive connection fails when the server closed it while it
// was idle: before a single byte of the response.
bool ClosedWhileIdle(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::ssl::error::stream_truncated;
}

// The body of a 2xx response; else its canonical status.
StatusOr<std::string> BodyOf(StatusOr<HttpResponse> res) {
  if (!res.ok()) return res.status();
  TBMS_RETURN_IF_ERROR(StatusFromHttp(res->status, res->body));
  return std::move(res->body);
}

}  // namespace

StatusOr<std::unique_ptr<Client>> Client::Create(Options options) {
  auto url = ParseUrl(options.endpoint);
  if (!url.ok()) return url.status();
  TBMS_RETURN_IF_ERROR(CheckInstance(options.instance));
  auto key = CheckKey(options.access_id, options.access_key, options.instance);
  if (!key.ok()) return key.status();
  if (!(options.connect_timeout_ms > 0) || !std::isfinite(options.connect_timeout_ms)) {
    return InvalidArgument("connect_timeout_ms must be > 0");
  }
  TBMS_RETURN_IF_ERROR(CheckRequestTimeout(options.request_timeout_ms));
  if (!(options.max_connection_age_ms >= 0) || !std::isfinite(options.max_connection_age_ms)) {
    return InvalidArgument("max_connection_age_ms must be >= 0 (0: no limit)");
  }
  std::shared_ptr<asio::ssl::context> tls;
  if (url->tls) {
    auto ctx = ClientTls(options.ca_file);
    if (!ctx.ok()) return ctx.status();
    tls = std::move(ctx).value();
  }
  return std::unique_ptr<Client>(
      new Client(std::move(options), std::move(url).value(), std::move(key).value(), std::move(tls)));
}

Client::Client(Options options, Url url, std::optional<AccessKey> key, std::shared_ptr<asio::ssl::context> tls)
    : options_(std::move(options)), url_(std::move(url)), key_(std::move(key)), tls_(std::move(tls)),
      try_target_(TryTarget(options_.instance)) {}

Client::~Client() = default;

StatusOr<TryResult> Client::Try(const TryRequest& request) {
  auto body = BodyOf(Call("POST", try_target_, TryBody(request), RequestTimeout(TryTimeoutMs(request))));
  if (!body.ok()) return body.status();
  return ParseTryResult(*body);
}

StatusOr<std::string> Client::Report() { return BodyOf(Call("GET", "/v1/report", "", RequestTimeout(5000))); }

StatusOr<std::string> Client::Infer(std::string_view model, std::string_view request_json,
                                    std::string_view version) {
  std::string target = "/v2/models/" + std::string(model);
  if (!version.empty()) target += "/versions/" + std::string(version);
  target += "/infer";
  return BodyOf(Call("POST", target, request_json, RequestTimeout(11000)));
}

// The call's timeout bounds all of it: the connect (at most
// connect_timeout_ms of it), the exchange and a resend.
StatusOr<HttpResponse> Client::Call(std::string_view method, std::string_view target, std::string_view body,
                                    Duration timeout, const Cancellation* cancel) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (cancel != nullptr && cancel->cancelled()) return Abandoned();
  for (int attempt = 0;; ++attempt) {
    // A resend goes out on a new connection: the other idle ones may have
    // been closed by the server as well.
    std::unique_ptr<Connection> conn = attempt == 0 ? TakeIdle() : nullptr;
    const bool reused = conn != nullptr;
    if (!reused) {
      auto fresh = Connect(deadline, cancel);
      if (!fresh.ok()) return fresh.status();
      conn = std::move(fresh).value();
    }
    // Signed afresh for each send: a resent request carries a new nonce.
    const std::string wire = RequestBytes(url_, {method, target, body, options_.user_agent, options_.bearer_token},
                                          key_ ? &*key_ : nullptr, NowUnixSeconds());
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxResponseBytes);
    conn->tcp().expires_at(deadline);
    const beast::error_code ec = conn->Exchange(wire, parser, cancel);
    if (!ec) {
      conn->tcp().expires_never();
      const bool shut = cancel != nullptr && cancel->cancelled();  // after the answer came: it still counts
      // A body that ended with the connection (no length, not chunked) leaves nothing to reuse.
      if (parser.keep_alive() && !parser.need_eof() && !shut) GiveBack(std::move(conn));
      http::response<http::string_body> res = parser.release();
      return HttpResponse{static_cast<int>(res.result_int()), std::move(res.body())};
    }
    // The server closed a pooled connection while it was idle: it never
    // saw this request, so it is sent once more, on a new connection.
    if (reused && attempt == 0 && ClosedWhileIdle(ec)) continue;
    if (ec == beast::error::timeout) {
      return DeadlineExceeded("no response from " + options_.endpoint + " within " +
                              std::to_string(ToMillis(timeout)) + " ms");
    }
    if (ec == asio::error::operation_aborted) return Abandoned();
    if (ec == http::error::body_limit) {
      return ResourceExhausted("the response from " + options_.endpoint + " is larger than " +
                               std::to_string(kMaxResponseBytes) + " bytes");
    }
    return Unavailable("request to " + options_.endpoint + " failed: " + ec.message());
  }
}

Status Client::Abandoned() const { return Cancelled("call to " + options_.endpoint + " abandoned by its caller"); }

StatusOr<std::unique_ptr<Client::Connection>> Client::Connect(std::chrono::steady_clock::time_point deadline,
                                                              const Cancellation* cancel) {
  auto conn = std::make_unique<Connection>();
  beast::tcp_stream& tcp = conn->plain.emplace(conn->ioc);
  beast::error_code ec;
  asio::ip::tcp::resolver resolver(conn->ioc);
  const auto resolved = resolver.resolve(url_.host, std::to_string(url_.port), ec);
  if (ec) return Unavailable("cannot resolve " + url_.host + ": " + ec.message());
  // Connections spread over the name's addresses: each starts at the next.
  std::vector<asio::ip::tcp::endpoint> endpoints(resolved.begin(), resolved.end());
  if (endpoints.empty()) return Unavailable("cannot resolve " + url_.host + ": no address");
  std::rotate(endpoints.begin(), endpoints.begin() + static_cast<std::ptrdiff_t>(NextAddress() % endpoints.size()),
              endpoints.end());
  // Asynchronous, so the stream's one timer bounds connect and handshake,
  // and a cancel is heard.
  const auto now = std::chrono::steady_clock::now();
  const auto until = std::min(deadline, now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                  Millis(options_.connect_timeout_ms)));
  const std::function<void()> stop = conn->CloseOnCancel();  // outlives the registration
  const Cancellation::Registration listening(cancel, stop);
  tcp.expires_at(until);
  tcp.async_connect(endpoints, [&](beast::error_code e, auto) { ec = e; });
  conn->ioc.run();
  ec = Connection::Aborted(ec, cancel);
  const std::string within =
      " within " + std::to_string(ToMillis(std::chrono::duration_cast<Duration>(until - now))) + " ms";
  if (ec == asio::error::operation_aborted) return Abandoned();
  if (ec == beast::error::timeout) return DeadlineExceeded("cannot connect to " + options_.endpoint + within);
  if (ec) return Unavailable("cannot connect to " + options_.endpoint + ": " + ec.message());
  tcp.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (!tls_) return conn;

  auto& secure = conn->secure.emplace(std::move(tcp), *tls_);
  conn->plain.reset();
  SSL_set_tlsext_host_name(secure.native_handle(), url_.host.c_str());  // SNI
  secure.set_verify_callback(asio::ssl::host_name_verification(url_.host));
  conn->ioc.restart();
  secure.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
  conn->ioc.run();
  ec = Connection::Aborted(ec, cancel);
  if (ec == asio::error::operation_aborted) return Abandoned();
  if (ec == beast::error::timeout) return DeadlineExceeded("TLS handshake with " + options_.endpoint + within);
  if (ec) return Unavailable("TLS handshake with " + options_.endpoint + " failed: " + ec.message());
  return conn;
}

std::unique_ptr<Client::Connection> Client::TakeIdle() {
  const auto now = std::chrono::steady_clock::now();
  const auto max_age = std::chrono::duration<double, std::milli>(options_.max_connection_age_ms);
  std::vector<std::unique_ptr<Connection>> expired;  // closed outside the lock
  MutexLock lock(&mu_);
  while (!idle_.empty()) {
    std::unique_ptr<Connection> conn = std::move(idle_.back());
    idle_.pop_back();
    if (options_.max_connection_age_ms <= 0 || now - conn->opened < max_age) return conn;
    expired.push_back(std::move(conn));
  }
  return nullptr;
}

size_t Client::NextAddress() {
  MutexLock lock(&mu_);
  return next_address_++;
}

void Client::GiveBack(std::unique_ptr<Connection> conn) {
  MutexLock lock(&mu_);
  if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(conn));
}

Duration Client::RequestTimeout(double default_ms) const {
  return Millis(options_.request_timeout_ms > 0 ? options_.request_timeout_ms : default_ms);
}

}  // namespace tbms::client
