// The edge's request parser on raw bytes: what RFC 9112 lets a server
// refuse, and must, where leniency would let one request hide another.
#include "../../src/server/request_parser.h"

#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>

namespace tbms {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

struct Parsed {
  bool ok = false;
  HttpRequest request;
  std::optional<Refusal> refusal;
  size_t left = 0;  // bytes after the request (a pipelined next one)
};

// Parses `raw` as the session does: the whole request from one buffer.
Parsed Parse(std::string_view raw) {
  Parsed out;
  beast::flat_buffer buffer;
  const auto space = buffer.prepare(raw.size());
  std::memcpy(space.data(), raw.data(), raw.size());
  buffer.commit(raw.size());
  RequestParser parser(&out.request, &buffer);
  beast::error_code ec;
  while (!ec && !parser.is_done() && buffer.size() > 0) buffer.consume(parser.put(buffer.data(), ec));
  out.ok = !ec && parser.is_done();
  out.refusal = parser.refusal();
  out.left = buffer.size();
  return out;
}

std::string Refused(std::string_view raw) {
  const Parsed p = Parse(raw);
  if (p.ok) return "accepted";
  if (!p.refusal) return "refused by Beast";  // answered 400 "bad HTTP request: ..."
  return std::to_string(p.refusal->status) + " " + p.refusal->message;
}

TEST(RequestParserTest, KeepsWhatTheEdgeNeeds) {
  const Parsed p = Parse(
      "POST http://tbms.example:8000/v1/instances/a/try?x=1 HTTP/1.1\r\nHost: tbms\r\n"
      "Authorization: TBMS-HMAC-SHA256 id=a\r\nContent-Length: 2\r\n\r\n{}");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.request.method, http::verb::post);
  EXPECT_EQ(p.request.method_string, "POST");
  EXPECT_EQ(p.request.target, "/v1/instances/a/try?x=1");  // absolute form reduced to the origin form
  EXPECT_EQ(p.request.authorization, "TBMS-HMAC-SHA256 id=a");
  EXPECT_EQ(p.request.body, "{}");
  EXPECT_EQ(Parse("GET http://tbms HTTP/1.1\r\nHost: tbms\r\n\r\n").request.target, "/");
  const Parsed chunked = Parse("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n");
  ASSERT_TRUE(chunked.ok);
  EXPECT_EQ(chunked.request.body, "{}");
  EXPECT_TRUE(Parse("GET / HTTP/1.0\r\n\r\n").ok);  // HTTP/1.0 needs no Host
  const Parsed expect = Parse("POST /x HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(expect.ok);
  EXPECT_TRUE(expect.request.expect_continue);
}

// A Transfer-Encoding not exactly `chunked` was taken as an empty body, and
// the body parsed as the next request: a smuggled unload was routed.
TEST(RequestParserTest, RefusesEveryTransferEncodingButChunked) {
  const std::string smuggled = "POST /v2/repository/models/svm/unload HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const std::string te : {"xchunked", "identity", "chunked, identity", "gzip, chunked", "chunked, chunked"}) {
    SCOPED_TRACE(te);
    const std::string raw = "POST /v1/instances/a/try HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: " + te + "\r\n\r\n" + smuggled;
    EXPECT_EQ(Refused(raw), "400 Transfer-Encoding '" + te + "' is not supported (only chunked)");
  }
  EXPECT_EQ(Refused("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "400 Transfer-Encoding 'gzip, chunked' is not supported (only chunked)");
  EXPECT_EQ(Refused("POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            "refused by Beast");
  EXPECT_EQ(Refused("POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            "refused by Beast");
}

TEST(RequestParserTest, RefusesAmbiguousHeaders) {
  EXPECT_EQ(Refused("GET / HTTP/1.1\r\n\r\n"), "400 an HTTP/1.1 request needs a Host header");
  EXPECT_EQ(Refused("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), "400 several Host headers");
  EXPECT_EQ(Refused("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: x\r\nAuthorization: y\r\n\r\n"),
            "400 several Authorization headers");
  EXPECT_EQ(Refused("GET / HTTP/1.1\r\nHost: a\r\nX-Long: one\r\n two\r\n\r\n"),
            "400 header 'X-Long' is folded over lines (obs-fold, RFC 9112 5.2)");
  EXPECT_EQ(Refused("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n\tlater\r\n\r\n"),
            "400 header 'X-Empty' is folded over lines (obs-fold, RFC 9112 5.2)");
  EXPECT_EQ(Refused("POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n"),
            "417 Expect '200-ok' is not supported (only 100-continue)");
  EXPECT_EQ(Refused("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\n\r\n"),
            "415 Content-Encoding 'gzip' is not supported (send the body as is)");
  // What is echoed is bounded and printable.
  EXPECT_EQ(Refused("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: " + std::string(100, 'z') + "\r\n\r\n"),
            "400 Transfer-Encoding '" + std::string(64, 'z') + "...' is not supported (only chunked)");
}

}  // namespace
}  // namespace tbms
