#include "request_parser.h"

#include <charconv>

#include <cctype>
#include <cstring>
#include <functional>

namespace tbms {

namespace beast = boost::beast;
namespace http = beast::http;

void HttpRequest::Clear() {
  method = http::verb::unknown;
  method_string.clear();
  target.clear();
  version = 11;
  authorization.clear();
  inference_header_length.reset();
  body.clear();
  expect_continue = false;
  keep_alive = true;
}

namespace {

std::string_view Std(beast::string_view s) { return {s.data(), s.size()}; }

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9112 3.2.2: a server must accept the absolute form; it routes on the
// path, so the scheme and authority go.
std::string_view OriginForm(std::string_view target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() && IEquals(target.substr(0, scheme.size()), scheme)) {
      const size_t path = target.find_first_of("/?", scheme.size());
      return path == std::string_view::npos ? std::string_view("/") : target.substr(path);
    }
  }
  return target;
}

// What an echoed header value may show: short, printable.
std::string Shown(std::string_view value) {
  constexpr size_t kMax = 64;
  std::string out(value.substr(0, kMax));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return value.size() > kMax ? out + "..." : out;
}

}  // namespace

void RequestParser::Refuse(int status, std::string message, error_code& ec) {
  if (!refusal_) refusal_ = Refusal{status, std::move(message)};
  ec = http::error::bad_value;
}

// Beast joins a folded value's lines in a buffer of its own; a value that
// is not in the input, or starts on a later line than its name, was folded.
bool RequestParser::Folded(string_view name, string_view value) const {
  if (value.empty()) return false;
  const auto in = raw_->data();
  const char* lo = static_cast<const char*>(in.data());
  const char* hi = lo + in.size();
  const std::less<const char*> before;
  if (before(value.data(), lo) || before(hi, value.data() + value.size())) return true;
  if (before(value.data(), name.data())) return true;
  return std::memchr(name.data(), '\n', static_cast<size_t>(value.data() - name.data())) != nullptr;
}

void RequestParser::on_request_impl(verb method, string_view method_str, string_view target, int version,
                                    error_code&) {
  out_->method = method;
  out_->method_string.assign(method_str.data(), method_str.size());
  out_->target.assign(OriginForm(Std(target)));
  out_->version = static_cast<unsigned>(version);
}

void RequestParser::on_response_impl(int, string_view, int, error_code& ec) { ec = http::error::bad_method; }

void RequestParser::on_field_impl(field name, string_view name_str, string_view value, error_code& ec) {
  if (Folded(name_str, value)) {
    return Refuse(400, "header '" + Shown(Std(name_str)) + "' is folded over lines (obs-fold, RFC 9112 5.2)", ec);
  }
  switch (name) {
    case field::host:
      if (++hosts_ > 1) Refuse(400, "several Host headers", ec);
      break;
    case field::authorization:
      if (authorization_) return Refuse(400, "several Authorization headers", ec);
      authorization_ = true;
      out_->authorization.assign(value.data(), value.size());
      break;
    case field::transfer_encoding:  // a list: several fields are one, joined
      if (!transfer_encoding_.empty()) transfer_encoding_ += ", ";
      transfer_encoding_.append(value.data(), value.size());
      break;
    case field::content_encoding:  // a body TBMS would read as plain text
      if (!IEquals(Trim(Std(value)), "identity")) {
        return Refuse(415, "Content-Encoding '" + Shown(Std(value)) + "' is not supported (send the body as is)", ec);
      }
      break;
    case field::expect:
      if (!IEquals(Trim(Std(value)), "100-continue")) {
        return Refuse(417, "Expect '" + Shown(Std(value)) + "' is not supported (only 100-continue)", ec);
      }
      out_->expect_continue = true;
      break;
    default:
      if (IEquals(Std(name_str), "Inference-Header-Content-Length")) {
        if (inference_header_) return Refuse(400, "several Inference-Header-Content-Length headers", ec);
        inference_header_ = true;
        const std::string_view v = Trim(Std(value));
        size_t n = 0;
        const auto [end, err] = std::from_chars(v.data(), v.data() + v.size(), n);
        if (v.empty() || err != std::errc() || end != v.data() + v.size()) {
          return Refuse(400, "Inference-Header-Content-Length '" + Shown(Std(value)) + "' is not a byte count", ec);
        }
        out_->inference_header_length = n;
      }
      break;
  }
}

void RequestParser::on_header_impl(error_code& ec) {
  if (hosts_ == 0 && out_->version >= 11) return Refuse(400, "an HTTP/1.1 request needs a Host header", ec);
  if (transfer_encoding_.empty()) return;
  // Only chunked is decoded; any other coding (or chunked applied twice) would be
  // read as something it is not.
  if (!IEquals(Trim(transfer_encoding_), "chunked")) {
    return Refuse(400, "Transfer-Encoding '" + Shown(transfer_encoding_) + "' is not supported (only chunked)", ec);
  }
}

void RequestParser::on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code&) {
  if (content_length) out_->body.reserve(static_cast<size_t>(*content_length));  // within body_limit
}

std::size_t RequestParser::on_body_impl(string_view body, error_code&) {
  out_->body.append(body.data(), body.size());
  return body.size();
}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, string_view body, error_code&) {
  out_->body.append(body.data(), body.size());
  return body.size();
}

}  // namespace tbms
