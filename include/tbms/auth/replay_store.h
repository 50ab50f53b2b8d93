// ReplayStore: the nonces of a whole fleet in one place, so a signed request
// accepted by one server is refused by every other and by the same server
// after a restart (docs/security.md, "Replay across servers"). The Verifier
// asks it after its own cache, which still catches replays to one server
// without a round trip.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "tbms/common/status.h"

namespace tbms {

class ReplayStore {
 public:
  virtual ~ReplayStore() = default;
  // True if `key` was free and is now claimed for `ttl_ms`; false if it was
  // claimed already; UNAVAILABLE when the store cannot say.
  virtual StatusOr<bool> Claim(std::string_view key, int64_t ttl_ms) = 0;
};

struct RedisStoreOptions {
  std::string address;          // "HOST:PORT" or "unix:PATH"
  int64_t timeout_ms = 20;      // per connect and per command
  int64_t retry_after_ms = 1000;  // once it failed, calls fail at once for this long
  std::function<void(const std::string&)> log;  // told when the store goes down and comes back
};

// Redis (SET key 1 NX PX ttl), one connection per calling thread: no lock
// between threads. INVALID_ARGUMENT for a malformed address; the store
// itself need not be up yet.
StatusOr<std::unique_ptr<ReplayStore>> NewRedisReplayStore(const RedisStoreOptions& options);

}  // namespace tbms
