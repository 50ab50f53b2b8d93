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
  if (fresh.ok() && *fresh) fresh = Claim(c->access_id, c->nonce, until_s, now_s);
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
  // A second past the window's end: the store's clock need not be ours to the millisecond.
  StatusOr<bool> claimed = options_.shared->Claim(key, (until_s - now_s + 1) * 1000);
  if (claimed.ok() || !options_.accept_when_store_down) return claimed;
  return true;  // by the documented rule: this server's cache alone guards while the store is down
}

StatusOr<bool> Verifier::Remember(std::string_view id, std::string_view nonce, int64_t until_s, int64_t now_s) {
  thread_local std::string text;  // reused: no allocation per request once warm
  text.assign(salt_).append(id).append(1, '\n').append(nonce);
  const uint64_t hash = std::hash<std::string>()(text);
  MutexLock lock(&mu_);
  while (!expiry_.empty() && expiry_.front().until_s < now_s) {
    seen_.erase(expiry_.front().hash);
    --*expiry_.front().held;
    expiry_.pop_front();
  }
  if (seen_.contains(hash)) return false;
  if (seen_.size() >= options_.max_nonces) {
    return Unavailable("the replay cache is full (" + std::to_string(options_.max_nonces) +
                       " nonces within the window): retry later");
  }
  auto held = held_.find(id);
  if (held == held_.end()) held = held_.emplace(std::string(id), 0).first;  // ids are the house's: bounded
  if (held->second >= options_.max_nonces_per_key) {
    return ResourceExhausted("access id '" + std::string(id) + "' has " + std::to_string(held->second) +
                             " requests within the window, its share of the replay cache: retry later");
  }
  seen_.insert(hash);
  ++held->second;
  // Kept in expiry order: a nonce is kept at least until its timestamp leaves the window.
  expiry_.push_back({expiry_.empty() ? until_s : std::max(until_s, expiry_.back().until_s), hash, &held->second});
  return true;
}

size_t Verifier::remembered() const {
  MutexLock lock(&mu_);
  return seen_.size();
}

}  // namespace tbms
