// Verifier: the server's side of signed requests (docs/security.md). It
// finds the access key, checks the timestamp window, compares the signature
// in constant time and, once the signature matched, remembers the nonce
// so the same request cannot be replayed within the window. The replay
// cache is bounded; when it is full, signed requests are refused until old
// nonces expire (never forgotten early: that would open a replay). One
// access id may hold at most max_nonces_per_key of it, so one key's holder
// cannot fill it for everyone.
// With a shared ReplayStore a nonce new to this server is claimed there
// too, so no other server of the fleet, and no later run of this one,
// accepts it again; when the store cannot say, the request is refused
// (UNAVAILABLE) unless accept_when_store_down.
// Thread-safe: the cache is behind a mutex taken once per verified request.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tbms/auth/replay_store.h"
#include "tbms/auth/signing.h"
#include "tbms/common/mutex.h"
#include "tbms/common/status.h"

namespace tbms {

// The keys a server knows, by access id.
using AccessKeys = std::map<std::string, AccessKey, std::less<>>;

class Verifier {
 public:
  struct Options {
    int64_t window_s = 300;         // |server clock - Timestamp| at most this
    size_t max_nonces = 1 << 20;    // remembered at once (~90 bytes each: map node, bucket, queue entry)
    size_t max_nonces_per_key = 1 << 19;  // of those, by one access id
    std::shared_ptr<ReplayStore> shared = nullptr;  // the fleet's nonces; none: this server's only
    bool accept_when_store_down = false;  // then only this server's cache guards
  };
  struct Request {
    std::string_view method, target, body, authorization;
  };

  explicit Verifier(Options options);

  // The key that signed `request`, or UNAUTHENTICATED saying what is wrong
  // (never a secret), RESOURCE_EXHAUSTED when its key holds its share of
  // the replay cache, or UNAVAILABLE when the cache is full or the shared
  // store cannot say.
  StatusOr<const AccessKey*> Verify(const Request& request, const AccessKeys& keys, int64_t now_s)
      EXCLUDES(mu_);

  size_t remembered() const EXCLUDES(mu_);

 private:
  // True if (id, nonce) is new to the fleet's store (and now claimed there until `until_s`).
  StatusOr<bool> Claim(std::string_view id, std::string_view nonce, int64_t until_s, int64_t now_s) const;
  // True if (id, nonce) is new (and now remembered); expires at `until_s`.
  StatusOr<bool> Remember(std::string_view id, std::string_view nonce, int64_t until_s, int64_t now_s)
      EXCLUDES(mu_);
  // Forgets what Remember just remembered (the shared store could not say:
  // the same request may be sent again).
  void Forget(std::string_view id, std::string_view nonce) EXCLUDES(mu_);
  uint64_t HashOf(std::string_view id, std::string_view nonce) const;

  const Options options_;
  const std::string salt_;  // random per process: nonce hashes are not predictable
  struct Entry {
    int64_t until_s;
    uint64_t hash;
    size_t* held;  // its access id's count in held_
    bool operator>(const Entry& other) const { return until_s > other.until_s; }
  };
  mutable Mutex mu_;
  // Each remembered nonce's hash, with its access id's count and when it expires.
  std::unordered_map<uint64_t, Entry> seen_ GUARDED_BY(mu_);
  // Soonest expiry first: each nonce leaves when its own timestamp leaves
  // the window (one future-dated request keeps no other past its time). An
  // entry whose nonce was forgotten meanwhile is skipped.
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> expiry_ GUARDED_BY(mu_);
  std::map<std::string, size_t, std::less<>> held_ GUARDED_BY(mu_);  // nonces per access id (nodes are stable)
};

}  // namespace tbms
