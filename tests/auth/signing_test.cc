#include "tbms/auth/signing.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

// The worked example of docs/security.md, byte for byte.
TEST(SigningTest, DocumentedTestVector) {
  const std::string body = R"({"inputs":{"question":"What is the capital of China?"},"task":"qa"})";
  const std::string hash = BodyHash(body);
  EXPECT_EQ(hash, "e1cde46df15cae344a2c5ad090a20a11231bb3e75d99718029b28627437db959");
  const std::string to_sign = StringToSign("POST", "/v1/instances/nianjianQA/try", "1764390000", "4f3c2a1b9d8e7f60", hash);
  EXPECT_EQ(to_sign,
            "TBMS-HMAC-SHA256\nPOST\n/v1/instances/nianjianQA/try\n1764390000\n4f3c2a1b9d8e7f60\n"
            "e1cde46df15cae344a2c5ad090a20a11231bb3e75d99718029b28627437db959");
  EXPECT_EQ(Sign("demo-secret-key-0123456789", to_sign),
            "7bad50815413ff8d8c90f81d54bde9d9e95a19d624e2129799121ad9e3ca2575");
  const AccessKey key{"demo-id", "demo-secret-key-0123456789", "nianjianQA"};
  EXPECT_EQ(AuthorizationHeader(key, "POST", "/v1/instances/nianjianQA/try", body, 1764390000, "4f3c2a1b9d8e7f60"),
            "TBMS-HMAC-SHA256 Credential=demo-id, Timestamp=1764390000, Nonce=4f3c2a1b9d8e7f60, "
            "Signature=7bad50815413ff8d8c90f81d54bde9d9e95a19d624e2129799121ad9e3ca2575");
}

TEST(SigningTest, EmptyBodyHashesNothing) {
  EXPECT_EQ(BodyHash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigningTest, NoncesAreFreshHex) {
  const std::string a = NewNonce(), b = NewNonce();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
  EXPECT_EQ(a.find_first_not_of("0123456789abcdef"), std::string::npos);
}

TEST(SigningTest, ParsesItsOwnHeaderInAnyFieldOrder) {
  const std::string sig(64, 'a');
  const std::string header = "TBMS-HMAC-SHA256 Signature=" + sig + ",Nonce=abcdefgh,  Timestamp=42, Credential=k.1";
  auto c = ParseAuthorization(header);  // views into `header`
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->access_id, "k.1");
  EXPECT_EQ(c->timestamp_s, 42);
  EXPECT_EQ(c->nonce, "abcdefgh");
  EXPECT_EQ(c->signature, sig);
  // Spaces around a field are not part of it (found by the auth fuzz harness:
  // a nonce "abcdefgh " parses as "abcdefgh", and is signed as such).
  const std::string spaced = "TBMS-HMAC-SHA256 Credential=k.1 , Timestamp=42, Nonce=abcdefgh , Signature=" + sig + " ";
  auto d = ParseAuthorization(spaced);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_EQ(d->access_id, "k.1");
  EXPECT_EQ(d->nonce, "abcdefgh");
  EXPECT_EQ(d->signature, sig);
}

TEST(SigningTest, BadHeadersSayWhatIsWrong) {
  const std::string sig(64, 'a');
  const std::string ok_rest = ", Timestamp=1, Nonce=abcdefgh, Signature=" + sig;
  const struct {
    std::string header, message;
  } rows[] = {
      {"", "missing Authorization header"},
      {"Bearer abc", "Authorization must be 'TBMS-HMAC-SHA256 Credential="},
      {"TBMS-HMAC-SHA256", "Authorization must be"},
      {"TBMS-HMAC-SHA256X Credential=a" + ok_rest, "Authorization must be"},
      {"TBMS-HMAC-SHA256 Credential=a, Timestamp=1, Nonce=abcdefgh", "Authorization must be"},
      {"TBMS-HMAC-SHA256 Credential=a, Credential=b" + ok_rest, "Authorization must be"},
      {"TBMS-HMAC-SHA256 Credential=a" + ok_rest + ", Extra=1", "Authorization must be"},
      {"TBMS-HMAC-SHA256 Credential=" + ok_rest, "Authorization must be"},
      {"TBMS-HMAC-SHA256 Credential=a b" + ok_rest, "Credential must be an access id"},
      {"TBMS-HMAC-SHA256 Credential=" + std::string(129, 'a') + ok_rest, "Credential must be an access id"},
      {"TBMS-HMAC-SHA256 Credential=a, Timestamp=-1, Nonce=abcdefgh, Signature=" + sig, "Timestamp must be"},
      {"TBMS-HMAC-SHA256 Credential=a, Timestamp=1234567890123, Nonce=abcdefgh, Signature=" + sig, "Timestamp must be"},
      {"TBMS-HMAC-SHA256 Credential=a, Timestamp=1, Nonce=short, Signature=" + sig, "Nonce must be 8-64"},
      {"TBMS-HMAC-SHA256 Credential=a, Timestamp=1, Nonce=abc/efgh, Signature=" + sig, "Nonce must be 8-64"},
      {"TBMS-HMAC-SHA256 Credential=a, Timestamp=1, Nonce=abcdefgh, Signature=" + std::string(64, 'A'),
       "Signature must be 64 lower-case hex"},
      {"TBMS-HMAC-SHA256 Credential=a, Timestamp=1, Nonce=abcdefgh, Signature=abc", "Signature must be 64"},
  };
  for (const auto& row : rows) {
    auto c = ParseAuthorization(row.header);
    ASSERT_FALSE(c.ok()) << row.header;
    EXPECT_EQ(c.status().code(), StatusCode::kUnauthenticated) << row.header;
    EXPECT_NE(c.status().message().find(row.message), std::string::npos)
        << row.header << " -> " << c.status().message();
  }
}

}  // namespace
}  // namespace tbms
