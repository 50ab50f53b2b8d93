// The HTTP edge's request parser: Beast's HTTP/1.1 parser, held to RFC
// 9112's stricter rules where leniency lets one request hide another, and
// keeping only what the edge routes, signs and answers on (in a request the
// session reuses, so a request allocates no header fields).
#pragma once

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace tbms {

struct HttpRequest {
  boost::beast::http::verb method = boost::beast::http::verb::unknown;
  std::string method_string;
  std::string target;  // origin-form: an absolute-form target is reduced to it
  unsigned version = 11;
  std::string authorization;
  // Inference-Header-Content-Length: the JSON's length in a KServe v2 body
  // with binary tensor data after it (the binary tensor data extension).
  std::optional<size_t> inference_header_length;
  std::string body;
  bool expect_continue = false;  // Expect: 100-continue
  bool keep_alive = true;        // set when the request is complete

  void Clear();  // keeps the strings' capacity
};

// What the parser refused, as the response says it.
struct Refusal {
  int status = 400;
  std::string message;
};

// Refused (a Refusal, and an error from put/async_read): a Transfer-Encoding
// other than exactly `chunked` (with Content-Length too Beast refuses it); no Host on HTTP/1.1 or
// several; several Authorization headers; an obs-fold line; an Expect other
// than 100-continue (417).
class RequestParser final : public boost::beast::http::basic_parser<true> {
 public:
  using error_code = boost::beast::error_code;
  using verb = boost::beast::http::verb;
  using field = boost::beast::http::field;
  using string_view = boost::beast::string_view;  // Beast's (boost::string_view in Boost 1.74)

  // `raw` is the buffer the parser reads from (to tell folded values).
  RequestParser(HttpRequest* out, const boost::beast::flat_buffer* raw) : out_(out), raw_(raw) {}

  const std::optional<Refusal>& refusal() const { return refusal_; }

 private:
  void on_request_impl(verb method, string_view method_str, string_view target, int version,
                       error_code& ec) override;
  void on_response_impl(int, string_view, int, error_code& ec) override;
  void on_field_impl(field name, string_view name_str, string_view value, error_code& ec) override;
  void on_header_impl(error_code& ec) override;
  void on_body_init_impl(const boost::optional<std::uint64_t>& content_length, error_code& ec) override;
  std::size_t on_body_impl(string_view body, error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t, string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, string_view body, error_code& ec) override;
  void on_finish_impl(error_code&) override {}

  void Refuse(int status, std::string message, error_code& ec);
  bool Folded(string_view name, string_view value) const;

  HttpRequest* const out_;
  const boost::beast::flat_buffer* const raw_;
  std::optional<Refusal> refusal_;
  int hosts_ = 0;
  bool authorization_ = false;
  bool inference_header_ = false;
  std::string transfer_encoding_;
};

}  // namespace tbms
