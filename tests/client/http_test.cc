#include "tbms/client/http.h"

#include <gtest/gtest.h>

#include "tbms/auth/verifier.h"

namespace tbms::client {
namespace {

TEST(ParseUrlTest, TakesHostPortAndAPrefix) {
  auto u = ParseUrl("http://127.0.0.1:8000/");
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u->tls);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8000);
  EXPECT_EQ(u->prefix, "");
  EXPECT_EQ(u->authority(), "127.0.0.1:8000");
  // A server behind a proxy that routes a path to it: every target goes under it, and is signed so.
  u = ParseUrl("https://proxy.example/tbms/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->prefix, "/tbms");
  EXPECT_TRUE(RequestBytes(*u, {"GET", "/v1/report", ""}, nullptr, 0).starts_with("GET /tbms/v1/report HTTP/1.1\r\n"));
  // What would be dropped is refused.
  for (const char* url : {"http://127.0.0.1:8000/v1?x#y", "http://h:1?x=1", "http://h:1#f"}) {
    EXPECT_NE(ParseUrl(url).status().message().find("without a query or fragment"), std::string::npos) << url;
  }
  EXPECT_NE(ParseUrl("http://user:pw@127.0.0.1:1").status().message().find("user:password@"), std::string::npos);
}

TEST(ParseUrlTest, DefaultPortsAndIpv6InBrackets) {
  EXPECT_EQ(ParseUrl("http://example.com")->port, 80);
  auto u = ParseUrl("https://[::1]/");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->authority(), "[::1]:443");
}

TEST(ParseUrlTest, RefusesMalformedUrls) {
  for (const char* url : {"", "ftp://h:1", "http://", "http://:80", "http://[::1", "http://::1",
                          "http://h:0", "http://h:65536", "http://h:", "http://h:8x"}) {
    auto u = ParseUrl(url);
    ASSERT_FALSE(u.ok()) << url;
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument) << url;
  }
}

TEST(RequestBytesTest, AnUnsignedRequestIsPlainHttp11) {
  const Url url = *ParseUrl("http://127.0.0.1:8000");
  EXPECT_EQ(RequestBytes(url, {"POST", "/v1/instances/a/try", "{}"}, nullptr, 0),
            "POST /v1/instances/a/try HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: tbms-client\r\n"
            "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(RequestBytes(url, {"GET", "/v1/report", "", "tbms-bench"}, nullptr, 0),
            "GET /v1/report HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: tbms-bench\r\n"
            "Content-Length: 0\r\n\r\n");
}

TEST(RequestBytesTest, ASignedRequestVerifies) {
  const AccessKey key{"a1", "a1-secret-0123456789", "a"};
  const Url url = *ParseUrl("http://127.0.0.1:8000");
  const std::string bytes = RequestBytes(url, {"POST", "/v1/instances/a/try", "{\"x\":1}"}, &key, 1764390000);
  const std::string prefix = "Authorization: ";
  const size_t at = bytes.find(prefix);
  ASSERT_NE(at, std::string::npos);
  const std::string header = bytes.substr(at + prefix.size(), bytes.find("\r\n", at) - at - prefix.size());
  Verifier verifier({});
  const AccessKeys keys{{"a1", key}};  // outlives `who`, which points into it
  auto who = verifier.Verify({"POST", "/v1/instances/a/try", "{\"x\":1}", header}, keys, 1764390000);
  ASSERT_TRUE(who.ok()) << who.status().ToString();
  EXPECT_EQ((*who)->id, "a1");
}

TEST(StatusFromHttpTest, MapsStatusesAndKeepsTheServersMessage) {
  EXPECT_TRUE(StatusFromHttp(200, "{}").ok());
  const std::vector<std::pair<int, StatusCode>> cases = {
      {400, StatusCode::kInvalidArgument},   {401, StatusCode::kUnauthenticated},
      {403, StatusCode::kPermissionDenied},  {404, StatusCode::kNotFound},
      {405, StatusCode::kInvalidArgument},   {413, StatusCode::kInvalidArgument},
      {429, StatusCode::kResourceExhausted}, {500, StatusCode::kInternal},
      {503, StatusCode::kUnavailable},       {504, StatusCode::kDeadlineExceeded}};
  for (const auto& [status, code] : cases) {
    const Status s = StatusFromHttp(status, R"({"error": "what went wrong"})");
    EXPECT_EQ(s.code(), code) << status;
    EXPECT_EQ(s.message(), "what went wrong");
  }
  EXPECT_EQ(StatusFromHttp(502, "<html>bad gateway</html>").message(), "HTTP 502: <html>bad gateway</html>");
}

}  // namespace
}  // namespace tbms::client
