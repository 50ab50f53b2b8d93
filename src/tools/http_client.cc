#include "http_client.h"

#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl.hpp>

namespace tbms::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

bool ParseUrl(const std::string& url, bool* tls, std::string* host, std::string* port) {
  *tls = std::string_view(url).starts_with("https://");
  const std::string_view scheme = *tls ? "https://" : "http://";
  if (!std::string_view(url).starts_with(scheme)) return false;
  std::string rest = url.substr(scheme.size());
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  *host = rest.substr(0, colon);
  *port = colon == std::string::npos ? (*tls ? "443" : "80") : rest.substr(colon + 1);
  return !host->empty() && !port->empty();
}

// A client TLS context that verifies the server against the system's CAs,
// or only against `ca_file` when given.
StatusOr<std::shared_ptr<asio::ssl::context>> ClientTls(const std::string& ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  beast::error_code ec;
  if (ca_file.empty()) {
    ctx->set_default_verify_paths(ec);
  } else {
    ctx->load_verify_file(ca_file, ec);
  }
  if (ec) return InvalidArgument("cannot use " + (ca_file.empty() ? "the system's CAs" : "--ca-file " + ca_file) + ": " + ec.message());
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

// One exchange on a connected stream; the stream's timer bounds it.
template <class Stream>
StatusOr<HttpResponse> Exchange(asio::io_context& ioc, Stream& stream, http::request<http::string_body>& req,
                                const std::string& url, Duration timeout) {
  beast::error_code ec;
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  ioc.restart();
  http::async_write(stream, req, [&](beast::error_code e, size_t) {
    ec = e;
    if (!e) http::async_read(stream, buffer, res, [&](beast::error_code e2, size_t) { ec = e2; });
  });
  ioc.run();
  if (ec == beast::error::timeout) {
    return DeadlineExceeded("no response from " + url + " within " + std::to_string(ToMillis(timeout)) + " ms");
  }
  if (ec) return Unavailable("request to " + url + " failed: " + ec.message());
  return HttpResponse{static_cast<int>(res.result_int()), std::move(res.body())};
}

}  // namespace

StatusOr<HttpResponse> HttpCall(const std::string& url, std::string_view method,
                                const std::string& target, const std::string& body,
                                Duration timeout, const AccessKey* key, const std::string& ca_file) {
  bool tls = false;
  std::string host, port;
  if (!ParseUrl(url, &tls, &host, &port)) return InvalidArgument("--url must look like http://HOST:PORT or https://HOST:PORT");
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  // Every step is asynchronous so the stream's one timer bounds the whole exchange.
  stream.expires_after(timeout);
  asio::ip::tcp::resolver resolver(ioc);
  auto endpoints = resolver.resolve(host, port, ec);
  if (ec) return Unavailable("cannot resolve " + host + ": " + ec.message());
  stream.async_connect(endpoints, [&](beast::error_code e, auto) { ec = e; });
  ioc.run();
  if (ec) return Unavailable("cannot connect to " + url + ": " + ec.message());

  http::request<http::string_body> req{http::string_to_verb({method.data(), method.size()}), target, 11};
  req.set(http::field::host, host);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  if (key != nullptr) {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    req.set(http::field::authorization,
            AuthorizationHeader(*key, method, target, body, std::chrono::duration_cast<std::chrono::seconds>(now).count(),
                                NewNonce()));
  }
  req.body() = body;
  req.prepare_payload();
  if (!tls) return Exchange(ioc, stream, req, url, timeout);

  auto ctx = ClientTls(ca_file);
  if (!ctx.ok()) return ctx.status();
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), **ctx);
  SSL_set_tlsext_host_name(secure.native_handle(), host.c_str());  // SNI
  secure.set_verify_callback(asio::ssl::host_name_verification(host));
  ioc.restart();
  secure.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
  ioc.run();
  if (ec) return Unavailable("TLS handshake with " + url + " failed: " + ec.message());
  return Exchange(ioc, secure, req, url, timeout);
}

}  // namespace tbms::tools
