#include "tbms/client/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "fake_server.h"
#include "tbms/auth/verifier.h"

namespace tbms::client {
namespace {

// The response example of docs/api.md.
constexpr std::string_view kTryResponse =
    R"({"answer": "svm answer to: hi", "model": "svm", "version": "2", "rank": 1, "downgraded": true,
        "reason": "predicted_late", "elapsed_ms": 25.066,
        "attempts": [
          {"model": "embedding", "rank": 0, "state": "skipped", "started_ms": 0.002, "latency_ms": 0},
          {"model": "svm", "version": "2", "rank": 1, "state": "succeeded", "started_ms": 0.003,
           "latency_ms": 25.062}]})";

const AccessKey kKey{"a1", "a1-secret-0123456789", "a"};

FakeServer::Reply Answer(const FakeServer::Seen&) { return {200, std::string(kTryResponse)}; }

TryRequest Question() {
  return {.question = "hi", .models = {{"embedding", 35}, {"svm", 25}}, .tloc_ms = 50};
}

std::unique_ptr<Client> Make(const FakeServer& server, Client::Options options = {}) {
  options.endpoint = server.url();
  if (options.instance == "default") options.instance = "a";
  auto client = Client::Create(std::move(options));
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(client).value() : nullptr;
}

int64_t NowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(ClientTest, SignsEveryRequestSoTheServersVerifierAcceptsIt) {
  FakeServer server(Answer);
  auto client = Make(server, {.access_id = kKey.id, .access_key = kKey.secret});
  ASSERT_TRUE(client->Try(Question()).ok());
  ASSERT_TRUE(client->Report().ok());

  const AccessKeys keys{{kKey.id, kKey}};
  Verifier verifier({});
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/v1/instances/a/try");
  EXPECT_EQ(seen[0].body, TryBody(Question()));
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].target, "/v1/report");
  for (const FakeServer::Seen& s : seen) {
    auto key = verifier.Verify({s.method, s.target, s.body, s.authorization}, keys, NowUnixSeconds());
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    EXPECT_EQ((*key)->id, "a1");
  }
  EXPECT_EQ(verifier.remembered(), 2u);  // two different nonces
}

TEST(ClientTest, WithoutAKeyRequestsGoUnsigned) {
  FakeServer server(Answer);
  auto client = Make(server);
  ASSERT_TRUE(client->Try(Question()).ok());
  ASSERT_EQ(server.seen().size(), 1u);
  EXPECT_FALSE(server.seen()[0].has_authorization);
}

TEST(ClientTest, KeepAliveReusesOneConnection) {
  FakeServer server(Answer);
  auto client = Make(server);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Try(Question()).ok()) << i;
  EXPECT_EQ(server.connections(), 1);
  EXPECT_EQ(server.seen().size(), 5u);
}

// A kept-alive connection older than max_connection_age_ms is closed, not
// reused: the next call resolves the name again (new pods get calls).
TEST(ClientTest, AConnectionPastItsAgeIsReplaced) {
  FakeServer server(Answer);
  auto client = Make(server, {.max_connection_age_ms = 1});
  ASSERT_TRUE(client->Try(Question()).ok());
  // The client ages connections on the real steady clock (it has no other);
  // sleep_for waits at least 5 ms, five times the age, so this cannot race.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(client->Try(Question()).ok());
  EXPECT_EQ(server.connections(), 2);
}

TEST(ClientTest, AConnectionTheServerClosedWhileIdleIsReplacedOnce) {
  FakeServer server([](const FakeServer::Seen&) {
    return FakeServer::Reply{200, std::string(kTryResponse), false, /*close_after=*/true};
  });
  auto client = Make(server);
  ASSERT_TRUE(client->Try(Question()).ok());
  auto second = client->Try(Question());  // its pooled connection is closed: sent again on a new one
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_EQ(server.connections(), 2);
  EXPECT_EQ(server.seen().size(), 2u);  // the dead connection carried nothing
}

// Two pooled connections, both closed by the server while idle: the call
// that finds the first dead is sent again on a new connection, not on the
// other dead one.
TEST(ClientTest, AResendAfterAStaleConnectionGoesOutOnANewOne) {
  std::mutex mu;
  std::condition_variable cv;
  int arrived = 0;
  FakeServer server([&](const FakeServer::Seen& s) {
    if (s.connection >= 2) return Answer(s);
    std::unique_lock lock(mu);
    ++arrived;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return arrived == 2; });  // both open at once: both pooled
    return FakeServer::Reply{200, std::string(kTryResponse), false, /*close_after=*/true};
  });
  auto client = Make(server);
  std::thread other([&] { EXPECT_TRUE(client->Try(Question()).ok()); });
  EXPECT_TRUE(client->Try(Question()).ok());
  other.join();
  auto third = client->Try(Question());
  ASSERT_TRUE(third.ok()) << third.status().ToString();
  EXPECT_EQ(server.connections(), 3);
}

// A response past kMaxResponseBytes is refused as such, not as a failed call.
TEST(ClientTest, AResponseTooLargeIsResourceExhausted) {
  FakeServer server([](const FakeServer::Seen&) {
    return FakeServer::Reply{200, std::string(kMaxResponseBytes + 1, 'x')};
  });
  auto client = Make(server);
  auto r = client->Call("GET", "/v1/report", "", std::chrono::seconds(10));
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
}

TEST(ClientTest, WithoutKeepAliveEveryCallConnects) {
  FakeServer server(Answer);
  auto client = Make(server, {.max_idle_connections = 0});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Try(Question()).ok());
  EXPECT_EQ(server.connections(), 3);
}

TEST(ClientTest, FillsTheTryResult) {
  FakeServer server(Answer);
  auto r = Make(server)->Try(Question());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->answer, "\"svm answer to: hi\"");
  EXPECT_EQ(r->answer_text, "svm answer to: hi");
  EXPECT_EQ(r->model, "svm");
  EXPECT_EQ(r->version, "2");
  EXPECT_EQ(r->rank, 1);
  EXPECT_TRUE(r->downgraded);
  EXPECT_EQ(r->reason, "predicted_late");
  EXPECT_DOUBLE_EQ(r->elapsed_ms, 25.066);
  ASSERT_EQ(r->attempts.size(), 2u);
  EXPECT_EQ(r->attempts[0].model, "embedding");
  EXPECT_EQ(r->attempts[0].state, "skipped");
  EXPECT_EQ(r->attempts[0].version, std::nullopt);
  EXPECT_EQ(r->attempts[1].rank, 1);
  EXPECT_EQ(r->attempts[1].version, "2");
  EXPECT_DOUBLE_EQ(r->attempts[1].latency_ms, 25.062);
}

TEST(ClientTest, HttpErrorsBecomeCanonicalCodesWithTheServersMessage) {
  const std::vector<std::pair<int, StatusCode>> cases = {
      {400, StatusCode::kInvalidArgument},  {401, StatusCode::kUnauthenticated},
      {403, StatusCode::kPermissionDenied}, {404, StatusCode::kNotFound},
      {429, StatusCode::kResourceExhausted}, {503, StatusCode::kUnavailable}};
  for (const auto& [http_status, code] : cases) {
    const std::string message = "message of " + std::to_string(http_status);
    FakeServer server([&](const FakeServer::Seen&) {
      return FakeServer::Reply{http_status, R"({"error": ")" + message + R"("})"};
    });
    auto client = Make(server);
    auto r = client->Try(Question());
    ASSERT_FALSE(r.ok()) << http_status;
    EXPECT_EQ(r.status().code(), code) << http_status;
    EXPECT_EQ(r.status().message(), message);
    auto report = client->Report();
    EXPECT_EQ(report.status().code(), code) << http_status;
    EXPECT_EQ(server.connections(), 1) << "an error response keeps the connection";
  }
}

TEST(ClientTest, NoResponseInTimeIsDeadlineExceeded) {
  FakeServer server([&](const FakeServer::Seen& s) {
    return s.connection == 0 ? FakeServer::Reply{.never = true} : Answer(s);
  });
  auto client = Make(server, {.request_timeout_ms = 20});
  auto r = client->Try(Question());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  // The timed-out connection is dropped; the next call gets a new one.
  auto next = client->Try(Question());
  EXPECT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(server.connections(), 2);
}

// A call whose caller gives up (every try of a remote's batch is over) is
// not left to run to its timeout: cancelled from another thread while it is
// out, the connection is shut and it answers CANCELLED. Without that it would
// wait the 10 s and say DEADLINE_EXCEEDED.
TEST(ClientTest, AnAbandonedCallIsCancelledAndItsConnectionDropped) {
  Cancellation abandoned;
  FakeServer server([&](const FakeServer::Seen& s) {
    if (s.connection > 0) return Answer(s);
    abandoned.Cancel();  // the request is out: its caller now gives up (the server's thread)
    return FakeServer::Reply{.never = true};
  });
  auto client = Make(server);
  auto r = client->Call("POST", "/v1/instances/a/try", "{}", std::chrono::seconds(10), &abandoned);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().ToString();
  auto next = client->Try(Question());
  EXPECT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(server.connections(), 2) << "the abandoned connection is not reused";
}

TEST(ClientTest, ACallCancelledBeforeItStartsAnswersCancelledAtOnce) {
  FakeServer server([](const FakeServer::Seen&) { return FakeServer::Reply{.never = true}; });
  auto client = Make(server);
  Cancellation abandoned;
  abandoned.Cancel();
  auto r = client->Call("POST", "/v1/instances/a/try", "{}", std::chrono::seconds(10), &abandoned);
  EXPECT_EQ(r.status().code(), StatusCode::kCancelled) << r.status().ToString();
}

TEST(ClientTest, AServerThatIsNotThereIsUnavailable) {
  uint16_t port;
  {
    FakeServer gone(Answer);
    port = gone.port();
  }  // closed: nothing listens there now
  auto client = Client::Create({.endpoint = "http://127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Try(Question());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("cannot connect"), std::string::npos);
}

TEST(ClientTest, ReportAndInferCallTheirEndpoints) {
  FakeServer server([](const FakeServer::Seen&) { return FakeServer::Reply{200, "{\"target\": 1}"}; });
  auto client = Make(server);
  EXPECT_EQ(client->Report().value(), "{\"target\": 1}");
  EXPECT_EQ(client->Infer("svm", "{\"inputs\": []}").value(), "{\"target\": 1}");
  EXPECT_EQ(client->Infer("svm", "{}", "3").value(), "{\"target\": 1}");
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].target, "/v1/report");
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(seen[1].target, "/v2/models/svm/infer");
  EXPECT_EQ(seen[1].body, "{\"inputs\": []}");
  EXPECT_EQ(seen[2].target, "/v2/models/svm/versions/3/infer");
}

TEST(ClientTest, IsSafeForConcurrentUseWithAtMostOneConnectionPerThread) {
  FakeServer server(Answer);
  auto client = Make(server);  // max_idle_connections = 4
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) ok += client->Try(Question()).ok() ? 1 : 0;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
  EXPECT_LE(server.connections(), 4);
  EXPECT_EQ(server.seen().size(), 80u);
}

TEST(ClientTest, RefusesBadOptions) {
  const std::vector<std::pair<Client::Options, std::string>> cases = {
      {{.endpoint = "ftp://127.0.0.1:1"}, "must look like http://"},
      {{.endpoint = "127.0.0.1:8000"}, "must look like http://"},
      {{.endpoint = "http://"}, "no host"},
      {{.endpoint = "http://[::1:80"}, "unclosed '['"},
      {{.endpoint = "http://::1:80"}, "IPv6 host in brackets"},
      {{.endpoint = "http://127.0.0.1:99999"}, "bad port ':99999'"},
      {{.endpoint = "http://127.0.0.1:x"}, "bad port ':x'"},
      {{.endpoint = "http://127.0.0.1:1", .instance = ""}, "instance must be 1-128 characters"},
      {{.endpoint = "http://127.0.0.1:1", .instance = "a b"}, "got 'a b'"},
      {{.endpoint = "http://127.0.0.1:1", .access_id = "a1"}, "needs its access_key"},
      {{.endpoint = "http://127.0.0.1:1", .access_key = "k"}, "needs its access_id"},
      {{.endpoint = "http://127.0.0.1:1", .access_id = "a 1", .access_key = "k"}, "access_id must be"},
      {{.endpoint = "http://127.0.0.1:1", .connect_timeout_ms = 0}, "connect_timeout_ms"},
      {{.endpoint = "http://127.0.0.1:1", .request_timeout_ms = -1}, "request_timeout_ms"},
      {{.endpoint = "http://127.0.0.1:1", .max_connection_age_ms = -1}, "max_connection_age_ms"},
      {{.endpoint = "https://127.0.0.1:1", .ca_file = "/nonexistent/ca.pem"}, "cannot use ca_file"},
  };
  for (const auto& [options, message] : cases) {
    auto client = Client::Create(options);
    ASSERT_FALSE(client.ok()) << options.endpoint << " " << message;
    EXPECT_EQ(client.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(client.status().message().find(message), std::string::npos) << client.status().message();
  }
  EXPECT_TRUE(Client::Create({.endpoint = "https://[::1]"}).ok());  // port 443; the system's CAs
}

}  // namespace
}  // namespace tbms::client
