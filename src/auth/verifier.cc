#include "tbms/auth/verifier.h"

#include <openssl/crypto.h>

#include <functional>

namespace tbms {
namespace {

// The string to sign as one line, for a client to compare with its own.
std::string Escaped(std::string_view s) {
  std::string out;
  for (char c : s) out += c == '\n' ? std::string_view("\\n") : std::string_view(&c, 1);
  return out;
}

// How far apart the clocks of a fleet's servers may be (NTP keeps them
// within milliseconds; a minute covers a server that lost its time source).
constexpr int64_t kFleetClockSkewS = 60;

}  // namespace

Verifier::Verifier(Options options) : options_(options), salt_(NewNonce()) {}

StatusOr<const AccessKey*> Verifier::Verify(const Request& request, const AccessKeys& keys, int64_t now_s) {
  StatusOr<Credentials> c = ParseAuthorization(request.authorization);
  if (!c.ok()) return c.status();
  const auto key = keys.find(c->access_id);
  if (key == keys.end()) return Unauthenticated("unknown access id '" + std::string(c->access_id) + "'");
  const int64_t skew = c->timestamp_s - now_s;
  if (skew > options_.window_s || -skew > options_.window_s) {
    return Unauthenticated("Timestamp " + std::string(c->timestamp) + " is " + std::to_string(skew < 0 ? -skew : skew) +
                           " s from the server's clock (at most " + std::to_string(options_.window_s) +
                           " s): check the client's clock");
  }
  const std::string to_sign =
      StringToSign(request.method, request.target, c->timestamp, c->nonce, BodyHash(request.body));
  const std::string expected = Sign(key->second.secret, to_sign);
  if (CRYPTO_memcmp(expected.data(), c->signature.data(), expected.size()) != 0) {
    return Unauthenticated("signature does not match; the server signed \"" + Escaped(to_sign) +
                           "\" with the key of access id '" + key->first + "'");
  }
  const int64_t until_s = c->timestamp_s + options_.window_s;
  StatusOr<bool> fresh = Remember(c->access_id, c->nonce, until_s, now_s);
  if (fresh.ok() && *fresh) {
    fresh = Claim(c->access_id, c->nonce, until_s, now_s);
    if (!fresh.ok()) Forget(c->access_id, c->nonce);  // "retry later" must not find it used
  }
  if (!fresh.ok()) return fresh.status();
  if (!*fresh) {
    return Unauthenticated("Nonce '" + std::string(c->nonce) + "' of access id '" + key->first +
                           "' was already used: a replayed request (send a fresh nonce with each request)");
  }
  return &key->second;
}

StatusOr<bool> Verifier::Claim(std::string_view id, std::string_view nonce, int64_t until_s, int64_t now_s) const {
  if (!options_.shared) return true;
  thread_local std::string key;  // reused: no allocation per request once warm
  key.assign(id).append(1, '\n').append(nonce);
  // Past the window's end by kFleetClockSkewS: a server of the fleet whose
  // clock is behind ours still takes the timestamp that long after we stop.
  StatusOr<bool> claimed = options_.shared->Claim(key, (until_s - now_s + kFleetClockSkewS) * 1000);
  if (claimed.ok() || !options_.accept_when_store_down) return claimed;
  return true;  // by the documented rule: this server's cache alone guards while the store is down
}

uint64_t Verifier::HashOf(std::string_view id, std::string_view nonce) const {
  thread_local std::string text;  // reused: no allocation per request once warm
  text.assign(salt_).append(id).append(1, '\n').append(nonce);
  return std::hash<std::string>()(text);
}

StatusOr<bool> Verifier::Remember(std::string_view id, std::string_view nonce, int64_t until_s, int64_t now_s) {
  const uint64_t hash = HashOf(id, nonce);
  MutexLock lock(&mu_);
  while (!expiry_.empty() && expiry_.top().until_s < now_s) {
    const Entry& due = expiry_.top();
    if (auto it = seen_.find(due.hash); it != seen_.end() && it->second.until_s == due.until_s) {
      --*it->second.held;
      seen_.erase(it);
    }
    expiry_.pop();
  }
  if (seen_.contains(hash)) return false;
  // (The expiry queue also holds the entries of nonces forgotten since, until they come due.)
  if (seen_.size() >= options_.max_nonces || expiry_.size() >= 2 * options_.max_nonces) {
    return Unavailable("the replay cache is full (" + std::to_string(options_.max_nonces) +
                       " nonces within the window): retry later");
  }
  auto held = held_.find(id);
  if (held == held_.end()) held = held_.emplace(std::string(id), 0).first;  // ids are the house's: bounded
  if (held->second >= options_.max_nonces_per_key) {
    return ResourceExhausted("access id '" + std::string(id) + "' has " + std::to_string(held->second) +
                             " requests within the window, its share of the replay cache: retry later");
  }
  const Entry entry{until_s, hash, &held->second};
  seen_.emplace(hash, entry);
  ++held->second;
  expiry_.push(entry);
  return true;
}

void Verifier::Forget(std::string_view id, std::string_view nonce) {
  const uint64_t hash = HashOf(id, nonce);
  MutexLock lock(&mu_);
  if (auto it = seen_.find(hash); it != seen_.end()) {
    --*it->second.held;
    seen_.erase(it);  // its expiry entry is skipped when it comes due
  }
}

size_t Verifier::remembered() const {
  MutexLock lock(&mu_);
  return seen_.size();
}

}  // namespace tbms
