// Request signing, TBMS-HMAC-SHA256 (docs/security.md): what a client
// sends and what the server recomputes. A request carries
//
//   Authorization: TBMS-HMAC-SHA256 Credential=<id>, Timestamp=<s>, Nonce=<n>, Signature=<hex>
//
// and the signature is HMAC-SHA256(key, StringToSign(...)) in lower-case hex.
// Pure functions (OpenSSL underneath); thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "tbms/common/status.h"

namespace tbms {

inline constexpr std::string_view kAuthScheme = "TBMS-HMAC-SHA256";

// An access id and its secret (instances.toml). The secret is never logged,
// echoed or shown; only its holder and the server know it.
struct AccessKey {
  std::string id;
  std::string secret;
  std::string instance;  // the instance it opens; empty: an admin key (every endpoint)

  bool admin() const { return instance.empty(); }
};

// The fields of an Authorization header (views into it).
struct Credentials {
  std::string_view access_id;
  std::string_view timestamp;  // decimal unix seconds
  int64_t timestamp_s = 0;
  std::string_view nonce;
  std::string_view signature;  // 64 lower-case hex digits
};

// UNAUTHENTICATED naming what is wrong with the header (never a secret).
StatusOr<Credentials> ParseAuthorization(std::string_view header);

// Lower-case hex SHA-256 of `body`.
std::string BodyHash(std::string_view body);

// The six lines that are signed: scheme, method, target, timestamp, nonce, body hash.
std::string StringToSign(std::string_view method, std::string_view target, std::string_view timestamp,
                         std::string_view nonce, std::string_view body_hash);

// Lower-case hex HMAC-SHA256 of `message` keyed with `secret`.
std::string Sign(std::string_view secret, std::string_view message);

// A fresh nonce: 32 hex digits from OpenSSL's random generator.
std::string NewNonce();

// The client side: the whole Authorization header value for one request.
std::string AuthorizationHeader(const AccessKey& key, std::string_view method, std::string_view target,
                                std::string_view body, int64_t timestamp_s, std::string_view nonce);

}  // namespace tbms
