#include "tbms/client/http.h"

#include <simdjson.h>

#include <charconv>

namespace tbms::client {

std::string Url::authority() const {
  return (ipv6_literal ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

StatusOr<Url> ParseUrl(std::string_view url) {
  Url out;
  out.tls = url.starts_with("https://");
  const std::string_view scheme = out.tls ? "https://" : "http://";
  if (!url.starts_with(scheme)) {
    return InvalidArgument("endpoint must look like http://HOST[:PORT] or https://HOST[:PORT], got '" +
                           std::string(url) + "'");
  }
  std::string_view authority = url.substr(scheme.size());
  if (authority.find_first_of("?#") != std::string_view::npos) {
    return InvalidArgument("endpoint is http(s)://HOST[:PORT][/PREFIX] without a query or fragment, got '" +
                           std::string(url) + "'");
  }
  const size_t slash = authority.find('/');
  if (slash != std::string_view::npos) {
    std::string_view prefix = authority.substr(slash);
    while (prefix.ends_with('/')) prefix.remove_suffix(1);
    out.prefix = prefix;  // a server behind a proxy that routes a path to it
    authority = authority.substr(0, slash);
  }
  if (authority.find('@') != std::string_view::npos) {
    return InvalidArgument("endpoint must not carry user:password@ (requests are signed with an access key)");
  }
  std::string_view rest;  // after the host: "" or ":PORT"
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return InvalidArgument("endpoint has an unclosed '[' in its host");
    out.host = authority.substr(1, close - 1);
    out.ipv6_literal = true;
    rest = authority.substr(close + 1);
  } else {
    const size_t colon = authority.find(':');
    if (colon != std::string_view::npos && authority.find(':', colon + 1) != std::string_view::npos) {
      return InvalidArgument("endpoint: write an IPv6 host in brackets, e.g. http://[::1]:8000");
    }
    out.host = authority.substr(0, colon);
    rest = colon == std::string_view::npos ? "" : authority.substr(colon);
  }
  if (out.host.empty()) return InvalidArgument("endpoint has no host");
  if (rest.empty()) {
    out.port = out.tls ? 443 : 80;
    return out;
  }
  const std::string_view digits = rest.substr(1);
  int port = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (rest[0] != ':' || ec != std::errc() || p != digits.data() + digits.size() || port < 1 || port > 65535) {
    return InvalidArgument("endpoint has a bad port '" + std::string(rest) + "'");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

std::string RequestBytes(const Url& url, const RequestSpec& r, const AccessKey* key, int64_t now_s) {
  std::string out;
  out.reserve(256 + r.body.size());
  const std::string target = url.prefix + std::string(r.target);
  out.append(r.method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(url.authority());
  out.append("\r\nUser-Agent: ").append(r.user_agent).append("\r\n");
  if (!r.body.empty()) out.append("Content-Type: application/json\r\n");
  out.append("Content-Length: ").append(std::to_string(r.body.size())).append("\r\n");
  if (key != nullptr) {
    out.append("Authorization: ")
        .append(AuthorizationHeader(*key, r.method, target, r.body, now_s, NewNonce()))
        .append("\r\n");
  } else if (!r.bearer.empty()) {
    out.append("Authorization: Bearer ").append(r.bearer).append("\r\n");
  }
  out.append("\r\n").append(r.body);
  return out;
}

namespace {

StatusCode CodeOf(int status) {
  switch (status) {
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kNotFound;
    case 408: return StatusCode::kDeadlineExceeded;
    case 429: return StatusCode::kResourceExhausted;
    case 503: return StatusCode::kUnavailable;
    case 504: return StatusCode::kDeadlineExceeded;
    default: return status >= 400 && status < 500 ? StatusCode::kInvalidArgument : StatusCode::kInternal;
  }
}

}  // namespace

Status StatusFromHttp(int status, std::string_view body) {
  if (status >= 200 && status < 300) return OkStatus();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view error;
  if (parser.parse(body.data(), body.size()).get(doc) == simdjson::SUCCESS &&
      doc["error"].get_string().get(error) == simdjson::SUCCESS) {
    return Status(CodeOf(status), std::string(error));
  }
  return Status(CodeOf(status), "HTTP " + std::to_string(status) + ": " + std::string(body.substr(0, 200)));
}

}  // namespace tbms::client
