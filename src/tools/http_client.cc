#include "http_client.h"

#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace tbms::tools {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

bool ParseUrl(const std::string& url, std::string* host, std::string* port) {
  constexpr std::string_view kScheme = "http://";
  if (!std::string_view(url).starts_with(kScheme)) return false;
  std::string rest = url.substr(kScheme.size());
  rest = rest.substr(0, rest.find('/'));
  const size_t colon = rest.rfind(':');
  *host = rest.substr(0, colon);
  *port = colon == std::string::npos ? "80" : rest.substr(colon + 1);
  return !host->empty() && !port->empty();
}

}  // namespace

StatusOr<HttpResponse> HttpCall(const std::string& url, std::string_view method,
                                const std::string& target, const std::string& body,
                                Duration timeout, const AccessKey* key) {
  std::string host, port;
  if (!ParseUrl(url, &host, &port)) return InvalidArgument("--url must look like http://HOST:PORT");
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
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  ioc.restart();
  http::async_write(stream, req, [&](beast::error_code e, size_t) {
    ec = e;
    if (!e) http::async_read(stream, buffer, res, [&](beast::error_code e2, size_t) { ec = e2; });
  });
  ioc.run();
  if (ec == beast::error::timeout) {
    return DeadlineExceeded("no response from " + url + " within " +
                            std::to_string(ToMillis(timeout)) + " ms");
  }
  if (ec) return Unavailable("request to " + url + " failed: " + ec.message());
  return HttpResponse{static_cast<int>(res.result_int()), std::move(res.body())};
}

}  // namespace tbms::tools
