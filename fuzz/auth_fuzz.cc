// libFuzzer harness: signed requests (docs/security.md), ParseAuthorization
// and Verifier::Verify against two instance keys and an admin key, with a
// 64-nonce replay cache. The input is
//
//   byte 0      mode: bit 0 clear: also send a correctly signed request (from
//               AuthorizationHeader) built from the fuzzed method, target,
//               nonce and body, timestamp kNow; bits 1-2 its key (0-2: the
//               table's keys, 3: a key the server does not know); bit 3:
//               first fill the replay cache with 62 + bits 4-5 (62-65)
//               signed requests at kNow
//   bytes 1-2   the server's clock offset from kNow in seconds (int16, little
//               endian): the fuzzed requests are verified at kNow + offset
//   the rest    header \n method \n target \n nonce \n body (the body is all
//               that follows the fourth newline; missing fields are empty)
//
// The fuzzed header is verified, then again (a replay), then the signed one
// twice. Every outcome is checked against what the scheme allows: OK only for
// a header that parses, names a known key, is within the window and carries
// Sign(secret, StringToSign(...)) as recomputed here; then the same request is
// refused as a replay while its timestamp is in the window; UNAVAILABLE only
// for a correctly signed request when the cache may be full; every error is
// UNAUTHENTICATED or UNAVAILABLE with a message that is non-empty and holds no
// secret (unless the input itself holds it). A violation traps.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/auth/signing.h"
#include "tbms/auth/verifier.h"

namespace {

using namespace tbms;

constexpr int64_t kNow = 1764390000;  // the documented test vector's timestamp
constexpr int64_t kWindow = 300;
constexpr size_t kMaxNonces = 64;

// The table: the documented test vector's key, a second instance's key and an
// admin key. kStranger signs too, but the server does not know it.
const AccessKey kKeys[] = {
    {"demo-id", "demo-secret-key-0123456789", "nianjianQA"},
    {"beta.2", "beta-instance-secret-XYZ_987654", "beta"},
    {"ops", "ops-admin-secret-key-0000-1111", ""},
};
const AccessKey kStranger = {"stranger", "stranger-secret-key-abcdefgh", "nianjianQA"};

void Require(bool ok) {
  if (!ok) __builtin_trap();
}

std::string_view Next(std::string_view& rest) {
  const size_t nl = rest.find('\n');
  const std::string_view part = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  return part;
}

bool ValidNonce(std::string_view nonce) {
  if (nonce.size() < 8 || nonce.size() > 64) return false;
  for (char c : nonce) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

// A parsed header names what the docs allow, and writing it back parses the same.
void CheckParsed(std::string_view header, const Credentials& c) {
  const auto inside = [&](std::string_view v) {
    return !v.empty() && v.data() >= header.data() && v.data() + v.size() <= header.data() + header.size();
  };
  Require(inside(c.access_id) && inside(c.timestamp) && inside(c.nonce) && inside(c.signature));
  Require(c.access_id.size() <= 128 && c.timestamp.size() <= 12 && ValidNonce(c.nonce) && c.signature.size() == 64);
  int64_t value = 0;
  for (char d : c.timestamp) {
    Require(d >= '0' && d <= '9');
    value = value * 10 + (d - '0');
  }
  Require(value == c.timestamp_s);
  for (char h : c.signature) Require((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f'));
  const std::string again = std::string(kAuthScheme) + " Credential=" + std::string(c.access_id) +
                            ", Timestamp=" + std::string(c.timestamp) + ", Nonce=" + std::string(c.nonce) +
                            ", Signature=" + std::string(c.signature);
  auto reparsed = ParseAuthorization(again);
  Require(reparsed.ok() && reparsed->access_id == c.access_id && reparsed->timestamp == c.timestamp &&
          reparsed->timestamp_s == c.timestamp_s && reparsed->nonce == c.nonce &&
          reparsed->signature == c.signature);
}

// One input's verifier, with a model of what it must remember: every request
// it accepted, and until when (timestamp + window) it must refuse it again.
class Session {
 public:
  Session(const AccessKeys& keys, std::string_view input)
      : keys_(keys), input_(input), verifier_({.window_s = kWindow, .max_nonces = kMaxNonces}) {}

  // Fills the replay cache with a known-good request signed at kNow: the
  // verifier alone, since Check's full model would only re-prove, 64 times an
  // input, what it proves once for the fuzzed requests (and would hold the
  // harness to about a thousand inputs a second).
  void Prefill(std::string_view header, const Credentials& c) {
    auto got = verifier_.Verify({"POST", "/fill", "", header}, keys_, kNow);
    if (accepted_.size() < kMaxNonces) {
      Require(got.ok());
      accepted_.push_back({std::string(c.access_id), std::string(c.nonce), kNow + kWindow});
    } else {
      Require(!got.ok() && got.status().code() == StatusCode::kUnavailable);
    }
  }

  // Verifies one request at `now` and checks the outcome; true if accepted.
  bool Check(std::string_view method, std::string_view target, std::string_view body, std::string_view header,
             int64_t now) {
    auto parsed = ParseAuthorization(header);
    auto got = verifier_.Verify({method, target, body, header}, keys_, now);
    if (!parsed.ok()) CheckError(parsed.status());
    if (!got.ok()) CheckError(got.status());
    if (!parsed.ok()) {
      Require(!got.ok() && got.status().code() == StatusCode::kUnauthenticated);
      return false;
    }
    CheckParsed(header, *parsed);
    const auto key = keys_.find(parsed->access_id);
    const bool in_window = parsed->timestamp_s - now <= kWindow && now - parsed->timestamp_s <= kWindow;
    const bool signed_ok =
        key != keys_.end() &&
        parsed->signature ==
            Sign(key->second.secret, StringToSign(method, target, parsed->timestamp, parsed->nonce, BodyHash(body)));
    if (!in_window || !signed_ok) {
      Require(!got.ok() && got.status().code() == StatusCode::kUnauthenticated);
      return false;
    }
    // Correctly signed and fresh: only the replay cache may refuse it.
    bool maybe_replay = false, surely_replay = false;
    size_t surely_kept = 0;
    for (const Accepted& a : accepted_) {
      const bool kept = a.until_s >= now;  // must still be remembered
      surely_kept += kept;
      if (a.id == parsed->access_id && a.nonce == parsed->nonce) {
        maybe_replay = true;
        surely_replay |= kept;
      }
    }
    if (got.ok()) {
      Require(*got == &key->second);
      Require(!surely_replay);
      Require(surely_kept < kMaxNonces);
      accepted_.push_back({key->first, std::string(parsed->nonce), parsed->timestamp_s + kWindow});
      return true;
    }
    if (got.status().code() == StatusCode::kUnavailable) {
      Require(accepted_.size() >= kMaxNonces);  // it cannot hold more than was accepted
    } else {
      Require(maybe_replay);  // the only reason to refuse a signed, fresh request as unauthenticated
    }
    if (!maybe_replay && accepted_.size() < kMaxNonces) Require(false);  // there was room: must accept
    if (!maybe_replay && surely_kept >= kMaxNonces) Require(got.status().code() == StatusCode::kUnavailable);
    return false;
  }

 private:
  struct Accepted {
    std::string id, nonce;
    int64_t until_s;
  };

  void CheckError(const Status& s) const {
    Require(s.code() == StatusCode::kUnauthenticated || s.code() == StatusCode::kUnavailable);
    Require(!s.message().empty());
    for (const AccessKey& k : kKeys) {
      Require(s.message().find(k.secret) == std::string::npos || input_.find(k.secret) != std::string_view::npos);
    }
  }

  const AccessKeys& keys_;
  const std::string_view input_;
  Verifier verifier_;
  std::vector<Accepted> accepted_;
};

struct Fill {
  std::string header;
  Credentials credentials;  // views into header
};

// Made once: Fill.credentials point into the strings this vector owns.
const std::vector<Fill>& PrefillRequests() {
  static const std::vector<Fill> out = [] {
    std::vector<Fill> v(65);
    for (size_t i = 0; i < v.size(); ++i) {
      v[i].header = AuthorizationHeader(kKeys[i % 3], "POST", "/fill", "", kNow, "fill-" + std::to_string(1000 + i));
    }
    for (Fill& f : v) {
      auto parsed = ParseAuthorization(f.header);
      Require(parsed.ok());
      f.credentials = *parsed;
    }
    return v;
  }();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const AccessKeys keys = [] {
    AccessKeys k;
    for (const AccessKey& key : kKeys) k.emplace(key.id, key);
    return k;
  }();
  const std::vector<Fill>& prefill = PrefillRequests();

  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const uint8_t mode = size > 0 ? data[0] : 0;
  const int16_t offset = static_cast<int16_t>((size > 1 ? data[1] : 0) | (size > 2 ? data[2] : 0) << 8);
  std::string_view rest = size > 3 ? input.substr(3) : std::string_view();
  const std::string_view header = Next(rest), method = Next(rest), target = Next(rest), nonce = Next(rest);
  const std::string_view body = rest;
  const int64_t now = kNow + offset;

  Session session(keys, input);
  if (mode & 8) {
    const size_t n = 62 + ((mode >> 4) & 3);
    for (size_t i = 0; i < n; ++i) session.Prefill(prefill[i].header, prefill[i].credentials);
  }

  // The fuzzed request, then the same again: a replay while it is fresh.
  if (session.Check(method, target, body, header, now)) {
    Require(!session.Check(method, target, body, header, now));
  }

  // A correctly signed request: accepted exactly once when it can be.
  if ((mode & 1) == 0) {
    const int which = (mode >> 1) & 3;
    const AccessKey& key = which < 3 ? kKeys[which] : kStranger;
    const std::string signed_header = AuthorizationHeader(key, method, target, body, kNow, nonce);
    // (A nonce with trailing spaces still parses, trimmed, but then its signature cannot match.)
    const bool valid_nonce = ValidNonce(nonce);
    if (valid_nonce) {
      auto parsed = ParseAuthorization(signed_header);
      Require(parsed.ok() && parsed->access_id == key.id && parsed->timestamp_s == kNow && parsed->nonce == nonce &&
              parsed->signature ==
                  Sign(key.secret, StringToSign(method, target, std::to_string(kNow), nonce, BodyHash(body))));
    }
    const bool accepted = session.Check(method, target, body, signed_header, now);
    const bool fresh = offset >= -kWindow && offset <= kWindow;
    if (accepted) {
      Require(which < 3 && valid_nonce && fresh);
      Require(!session.Check(method, target, body, signed_header, now));  // the replay
    }
  }
  return 0;
}
