#include "tbms/auth/verifier.h"

#include <gtest/gtest.h>

#include <optional>
#include <set>

namespace tbms {
namespace {

constexpr int64_t kNow = 1764390000;
const std::string kSecret = "alpha-secret-0123456789";

class VerifierTest : public ::testing::Test {
 protected:
  VerifierTest() {
    keys_["alpha-1"] = {"alpha-1", kSecret, "alpha"};
    keys_["ops"] = {"ops", "ops-secret-0123456789ab", ""};
  }

  StatusOr<const AccessKey*> Send(const std::string& header, std::string_view body = "{}",
                                  std::string_view target = "/v1/instances/alpha/try", int64_t now = kNow) {
    return verifier_.Verify({"POST", target, body, header}, keys_, now);
  }
  std::string Signed(std::string_view nonce = "nonce-0001", int64_t timestamp = kNow, std::string_view body = "{}",
                     const std::string& id = "alpha-1") {
    return AuthorizationHeader(keys_.at(id), "POST", "/v1/instances/alpha/try", body, timestamp, nonce);
  }

  AccessKeys keys_;
  Verifier verifier_{{.window_s = 300, .max_nonces = 4, .max_nonces_per_key = 4}};
};

void ExpectUnauthenticated(const StatusOr<const AccessKey*>& got, std::string_view message) {
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(got.status().message().find(message), std::string::npos) << got.status().message();
  EXPECT_EQ(got.status().message().find(kSecret), std::string::npos) << "a secret leaked";
}

TEST_F(VerifierTest, AcceptsASignedRequestAndNamesItsKey) {
  auto key = Send(Signed());
  ASSERT_TRUE(key.ok()) << key.status().message();
  EXPECT_EQ((*key)->id, "alpha-1");
  EXPECT_EQ((*key)->instance, "alpha");
  EXPECT_TRUE((*Send(Signed("nonce-0002", kNow, "{}", "ops")))->admin());
}

TEST_F(VerifierTest, RefusesAReplayedNonce) {
  ASSERT_TRUE(Send(Signed()).ok());
  ExpectUnauthenticated(Send(Signed()), "Nonce 'nonce-0001' of access id 'alpha-1' was already used");
  // The same nonce signed over another body is still the same nonce.
  ExpectUnauthenticated(Send(Signed("nonce-0001", kNow, "[]"), "[]"), "already used");
  EXPECT_TRUE(Send(Signed("nonce-0002")).ok());
}

TEST_F(VerifierTest, RefusesTimestampsOutsideTheWindowAtItsEdges) {
  EXPECT_TRUE(Send(Signed("edge-past", kNow - 300)).ok());
  EXPECT_TRUE(Send(Signed("edge-future", kNow + 300)).ok());
  ExpectUnauthenticated(Send(Signed("too-old1", kNow - 301)), "is 301 s from the server's clock (at most 300 s)");
  ExpectUnauthenticated(Send(Signed("too-new1", kNow + 301)), "is 301 s from the server's clock");
}

TEST_F(VerifierTest, RefusesWhatIsNotSignedByTheKey) {
  ExpectUnauthenticated(Send(Signed(), "{\"x\":1}"), "signature does not match; the server signed");
  ExpectUnauthenticated(Send(Signed(), "{}", "/v1/instances/beta/try"), "/v1/instances/beta/try");
  const std::string old_key = Signed("nonce-0003");
  keys_["alpha-1"].secret = "another-secret-0123456";  // rotated: the old secret no longer signs
  ExpectUnauthenticated(Send(old_key), "with the key of access id 'alpha-1'");
  keys_.erase("alpha-1");
  keys_["alpha-1x"] = {"alpha-1x", kSecret, "alpha"};
  auto got = verifier_.Verify({"POST", "/", "", "TBMS-HMAC-SHA256 Credential=nobody, Timestamp=1, Nonce=abcdefgh, "
                                                 "Signature=" + std::string(64, '0')}, keys_, kNow);
  ExpectUnauthenticated(got, "unknown access id 'nobody'");
}

TEST_F(VerifierTest, AFailedSignatureDoesNotSpendTheNonce) {
  ExpectUnauthenticated(Send(Signed(), "{\"forged\":1}"), "signature does not match");
  EXPECT_TRUE(Send(Signed()).ok());
}

TEST_F(VerifierTest, TheReplayCacheIsBoundedAndForgetsOnlyExpiredNonces) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(Send(Signed("fill-000" + std::to_string(i))).ok());
  EXPECT_EQ(verifier_.remembered(), 4u);
  auto full = Send(Signed("fill-0004"));
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), StatusCode::kUnavailable);
  // Still inside the window: nothing is forgotten, so a replay stays refused.
  ExpectUnauthenticated(Send(Signed("fill-0000"), "{}", "/v1/instances/alpha/try", kNow + 300), "already used");
  // Past it, the old nonces go and new requests (at the new time) are taken.
  EXPECT_TRUE(Send(Signed("later-01", kNow + 301), "{}", "/v1/instances/alpha/try", kNow + 301).ok());
  EXPECT_EQ(verifier_.remembered(), 1u);
}

// Each nonce leaves when its own timestamp leaves the window: one dated
// at the window's far edge keeps no other nonce past its time.
TEST_F(VerifierTest, AFutureDatedNonceKeepsNoOtherPastItsTime) {
  Verifier verifier({.window_s = 300, .max_nonces = 2, .max_nonces_per_key = 2});
  auto send = [&](std::string_view nonce, int64_t timestamp, int64_t now) {
    return verifier.Verify({"POST", "/v1/instances/alpha/try", "{}", Signed(nonce, timestamp)}, keys_, now);
  };
  ASSERT_TRUE(send("ahead-01", kNow + 300, kNow).ok());  // kept until kNow + 600
  ASSERT_TRUE(send("plain-01", kNow, kNow).ok());        // kept until kNow + 300
  EXPECT_TRUE(send("later-01", kNow + 301, kNow + 301).ok()) << "plain-01 has left: there is room";
  ExpectUnauthenticated(send("ahead-01", kNow + 300, kNow + 301), "already used");
}

TEST_F(VerifierTest, OneKeyHoldsOnlyItsShareOfTheReplayCache) {
  Verifier verifier({.window_s = 300, .max_nonces = 4, .max_nonces_per_key = 2});
  auto send = [&](const std::string& id, std::string_view nonce, int64_t now = kNow) {
    return verifier.Verify({"POST", "/v1/instances/alpha/try", "{}", Signed(nonce, now, "{}", id)}, keys_, now);
  };
  ASSERT_TRUE(send("alpha-1", "alpha-01").ok());
  ASSERT_TRUE(send("alpha-1", "alpha-02").ok());
  auto over = send("alpha-1", "alpha-03");
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(over.status().message().find("access id 'alpha-1' has 2 requests within the window"), std::string::npos);
  EXPECT_TRUE(send("ops", "ops-0001").ok());  // another key still gets in
  // Once its nonces expire, the key has its share back.
  EXPECT_TRUE(send("alpha-1", "alpha-04", kNow + 301).ok());
}

// The fleet's store as a map that can be switched off; it records the ttl asked for.
class FakeStore : public ReplayStore {
 public:
  StatusOr<bool> Claim(std::string_view key, int64_t ttl_ms) override {
    if (down) return Unavailable("the replay store at fake is unreachable (stopped)");
    last_ttl_ms = ttl_ms;
    return claimed.insert(std::string(key)).second;
  }
  std::set<std::string> claimed;
  bool down = false;
  int64_t last_ttl_ms = 0;
};

// Two servers (verifiers) of one fleet sharing a store.
struct Fleet {
  explicit Fleet(bool accept_when_down) {
    keys["alpha-1"] = {"alpha-1", kSecret, "alpha"};
    for (auto& v : servers) {
      v.emplace(Verifier::Options{.shared = store, .accept_when_store_down = accept_when_down});
    }
  }
  StatusOr<const AccessKey*> Send(int server, std::string_view nonce, int64_t now = kNow) {
    const std::string header = AuthorizationHeader(keys.at("alpha-1"), "POST", "/t", "{}", kNow, nonce);
    return servers[server]->Verify({"POST", "/t", "{}", header}, keys, now);
  }
  std::shared_ptr<FakeStore> store = std::make_shared<FakeStore>();
  AccessKeys keys;
  std::optional<Verifier> servers[2];
};

TEST(SharedReplayStoreTest, ARequestAcceptedByOneServerIsARefusedReplayOnAnother) {
  Fleet fleet(false);
  ASSERT_TRUE(fleet.Send(0, "nonce-01").ok());
  ExpectUnauthenticated(fleet.Send(1, "nonce-01"), "was already used: a replayed request");
  EXPECT_TRUE(fleet.Send(1, "nonce-02").ok());
  // Claimed until the timestamp leaves the window, and a minute more (a server whose clock is behind).
  EXPECT_EQ(fleet.store->last_ttl_ms, (300 + 60) * 1000);
}

TEST(SharedReplayStoreTest, ARestartedServerStillRefusesWhatItAcceptedBefore) {
  Fleet fleet(false);
  ASSERT_TRUE(fleet.Send(0, "nonce-01").ok());
  fleet.servers[0].emplace(Verifier::Options{.shared = fleet.store});  // its own cache is gone
  ExpectUnauthenticated(fleet.Send(0, "nonce-01"), "was already used");
}

TEST(SharedReplayStoreTest, WhenTheStoreIsDownSignedRequestsAreRefusedUnlessAcceptIsTheRule) {
  for (bool accept : {false, true}) {
    SCOPED_TRACE(accept ? "accept" : "refuse");
    Fleet fleet(accept);
    fleet.store->down = true;
    StatusOr<const AccessKey*> got = fleet.Send(0, "nonce-01");
    if (accept) {
      EXPECT_TRUE(got.ok());
      ExpectUnauthenticated(fleet.Send(0, "nonce-01"), "was already used");  // the server's own cache still guards
    } else {
      ASSERT_FALSE(got.ok());
      EXPECT_EQ(got.status().code(), StatusCode::kUnavailable);
      EXPECT_NE(got.status().message().find("replay store"), std::string::npos);
    }
    fleet.store->down = false;
    EXPECT_TRUE(fleet.Send(0, "nonce-02").ok());
    if (!accept) {
      EXPECT_TRUE(fleet.Send(0, "nonce-01").ok()) << "a 503 says retry: its nonce is not spent";
    }
  }
}

}  // namespace
}  // namespace tbms
