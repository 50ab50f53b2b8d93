// The HTTP pieces every TBMS client shares (tbms::client::Client, tbms try,
// report and bench): the one endpoint URL parser, the bytes of one signed
// HTTP/1.1 request, and the canonical status of an HTTP error response.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tbms/auth/signing.h"
#include "tbms/common/status.h"

namespace tbms::client {

// Where a server listens: http(s)://HOST[:PORT][/...]. An IPv6 host is
// written in brackets (http://[::1]:8000); a path, query or fragment is
// ignored (every call names its own target).
struct Url {
  bool tls = false;  // https://
  std::string host;  // without brackets: what is resolved and what a certificate must name
  uint16_t port = 0;  // 80 or 443 when the URL gives none
  bool ipv6_literal = false;  // host was written in brackets
  std::string prefix;  // "" or a path every target goes under ("/tbms" for http://proxy/tbms/), as signed

  // HOST:PORT as the Host header wants it (brackets kept for IPv6).
  std::string authority() const;
};

// http(s)://HOST[:PORT][/PREFIX]. INVALID_ARGUMENT naming what is wrong:
// another scheme, no host, an IPv6 host without brackets, a port outside
// 1-65535, a query or fragment, user:password@.
StatusOr<Url> ParseUrl(std::string_view url);

// One HTTP/1.1 request as sent on the wire: request line, Host, User-Agent,
// Content-Type (application/json) with a body, Content-Length, and with a
// `key` an Authorization header signed over (method, target, body) at
// `now_s` (unix seconds) with a fresh nonce (docs/security.md).
struct RequestSpec {
  std::string_view method;  // upper case: GET, POST
  std::string_view target;  // path and query, exactly as signed
  std::string_view body;
  std::string_view user_agent = "tbms-client";
  std::string_view bearer = {};  // without a key: "Authorization: Bearer <bearer>" (a non-TBMS server's token)
};
std::string RequestBytes(const Url& url, const RequestSpec& request, const AccessKey* key, int64_t now_s);

struct HttpResponse {
  int status = 0;
  std::string body;
};

// The canonical status of a response: OK for 2xx; else 400 INVALID_ARGUMENT,
// 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 429
// RESOURCE_EXHAUSTED, 503 UNAVAILABLE, 504 DEADLINE_EXCEEDED, any other 4xx
// (405, 413, 431: the request is wrong) INVALID_ARGUMENT, any other status
// INTERNAL. The message is the server's
// {"error": "..."} text, or "HTTP <status>: <the body's start>" for a body
// without one.
Status StatusFromHttp(int status, std::string_view body);

}  // namespace tbms::client
