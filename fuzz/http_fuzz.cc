// libFuzzer harness: the HTTP edge's reading of a connection — request line,
// headers, bodies (Content-Length and chunked), pipelining — through the
// session's own parser (src/server/request_parser.h) exactly as the session
// drives it: a fresh parser per request over one buffer, the body parsed
// from what is buffered, the next request from what is left. The input is
//
//   byte 0      how many bytes each read delivers: 2^(byte % 9), 1-256 (a
//               trickling or a fast client; the parser must not care)
//   the rest    the bytes the client sends
//
// Checked: no crash or hang; every request either completes or stops the
// connection with an error (a refusal names its status and reason); a
// completed request's body fits the body limit; a refused one is never
// followed by another on the same connection, as the session closes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>

#include "../src/server/request_parser.h"

namespace {

constexpr size_t kBodyLimit = 4096;
constexpr uint32_t kHeaderLimit = 2048;
constexpr int kMaxRequests = 64;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t step = size_t{1} << (data[0] % 9);
  std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
  boost::beast::flat_buffer buffer;
  tbms::HttpRequest request;
  for (int n = 0; n < kMaxRequests; ++n) {
    request.Clear();
    tbms::RequestParser parser(&request, &buffer);
    parser.body_limit(kBodyLimit);
    parser.header_limit(kHeaderLimit);
    boost::beast::error_code ec;
    for (;;) {  // what a session's reads do: parse what is buffered, then read more
      if (buffer.size() > 0) {
        const size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == boost::beast::http::error::need_more) {
          ec = {};
        } else if (ec || parser.is_done()) {
          break;
        } else if (used > 0) {
          continue;  // a structured element ended: parse on (the session's loop)
        }
      }
      if (wire.empty()) break;
      const size_t take = std::min(step, wire.size());
      const auto space = buffer.prepare(take);
      std::memcpy(space.data(), wire.data(), take);
      buffer.commit(take);
      wire.remove_prefix(take);
    }
    if (parser.refusal()) {
      Check(ec.failed());  // a refusal always stops the parse
      Check(!parser.refusal()->message.empty());
      const int status = parser.refusal()->status;
      Check(status == 400 || status == 415 || status == 417);
      return 0;  // the session answers and closes
    }
    if (ec || !parser.is_done()) return 0;  // a bad request (400, close) or the client went quiet
    Check(request.body.size() <= kBodyLimit);
    Check(!request.method_string.empty());
  }
  return 0;
}
