// The fleet's replay store in Redis: one SET NX PX per signed request.
#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "tbms/auth/replay_store.h"
#include "tbms/common/address.h"
#include "tbms/common/mutex.h"

namespace tbms {
namespace {

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
using Context = std::unique_ptr<redisContext, ContextFree>;
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

int64_t SteadyMs() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

timeval Timeval(int64_t ms) { return {static_cast<time_t>(ms / 1000), static_cast<suseconds_t>(ms % 1000 * 1000)}; }

class RedisReplayStore final : public ReplayStore {
 public:
  RedisReplayStore(RedisStoreOptions options, std::string host, int port)
      : options_(std::move(options)), host_(std::move(host)), port_(port) {}

  StatusOr<bool> Claim(std::string_view key, int64_t ttl_ms) override {
    if (SteadyMs() < down_until_ms_.load(std::memory_order_relaxed)) return Down(last_error_copy());
    Context& c = ThreadContext();
    const bool reused = c != nullptr;
    if (!c && !Connect(&c)) return Failed(&c);
    // The value is this claim's own, so a resend can tell its own earlier SET from another's.
    const std::string token = std::to_string(token_base_) + '.' + std::to_string(next_token_.fetch_add(1));
    Reply reply = Set(c.get(), key, token, ttl_ms);
    // A kept connection may have broken since (the store restarted): one fresh try before giving up.
    // The first SET may have been applied even so (its answer came too late): a resend that finds
    // the key holding this claim's token has claimed it.
    if (!reply && reused && Connect(&c)) {
      reply = Set(c.get(), key, token, ttl_ms);
      if (reply && reply->type == REDIS_REPLY_NIL) {
        const std::optional<bool> ours = Holds(c.get(), key, token);
        if (!ours) return Failed(&c);  // cannot tell: not a replay either
        if (*ours) return true;
      }
    }
    if (!reply) return Failed(&c);
    if (reply->type == REDIS_REPLY_ERROR) {
      Note(std::string("Redis refused SET: ") + std::string(reply->str, reply->len));
      return Down(last_error_copy());
    }
    if (!up_.load(std::memory_order_relaxed) && !up_.exchange(true) && options_.log) {
      options_.log("the replay store at " + options_.address + " answers again");
    }
    return reply->type == REDIS_REPLY_STATUS;  // "OK" when set; a nil reply when the key was there
  }

 private:
  // This thread's connection to the store, by store id (one store per process in practice;
  // a destroyed store's connections close with their thread).
  Context& ThreadContext() {
    thread_local std::vector<std::pair<uint64_t, Context>> contexts;
    for (auto& [id, c] : contexts) {
      if (id == id_) return c;
    }
    return contexts.emplace_back(id_, nullptr).second;
  }

  static Reply Set(redisContext* c, std::string_view key, const std::string& token, int64_t ttl_ms) {
    return Reply(static_cast<redisReply*>(redisCommand(c, "SET tbms:nonce:%b %b NX PX %lld", key.data(), key.size(),
                                                       token.data(), token.size(), static_cast<long long>(ttl_ms))));
  }
  // Whether the key holds `token`; nullopt when the store does not answer.
  static std::optional<bool> Holds(redisContext* c, std::string_view key, const std::string& token) {
    Reply got(static_cast<redisReply*>(redisCommand(c, "GET tbms:nonce:%b", key.data(), key.size())));
    if (!got || got->type == REDIS_REPLY_ERROR) return std::nullopt;
    return got->type == REDIS_REPLY_STRING && std::string_view(got->str, got->len) == token;
  }

  bool Connect(Context* c) {
    const timeval tv = Timeval(options_.timeout_ms);
    c->reset(port_ < 0 ? redisConnectUnixWithTimeout(host_.c_str(), tv) : redisConnectWithTimeout(host_.c_str(), port_, tv));
    return *c && (*c)->err == 0 && redisSetTimeout(c->get(), tv) == REDIS_OK;
  }

  // The connection broke or never came up: drop it, and fail every call for retry_after_ms.
  Status Failed(Context* c) {
    Note(*c && (*c)->errstr[0] ? std::string((*c)->errstr) : std::string("cannot connect"));
    c->reset();
    down_until_ms_.store(SteadyMs() + options_.retry_after_ms, std::memory_order_relaxed);
    return Down(last_error_copy());
  }

  void Note(std::string error) {
    if (up_.exchange(false) && options_.log) options_.log(Down(error).message());
    MutexLock lock(&error_mu_);  // only on failure, never on the hot path
    last_error_ = std::move(error);
  }
  std::string last_error_copy() const {
    MutexLock lock(&error_mu_);
    return last_error_;
  }

  Status Down(const std::string& error) const {
    return Unavailable("the replay store at " + options_.address + " is unreachable (" + error + ")");
  }

  static inline std::atomic<uint64_t> next_id_{1};
  const uint64_t id_ = next_id_.fetch_add(1);
  // Claim tokens: unique across the fleet's servers (a random start) and within this one.
  const uint64_t token_base_ = std::random_device{}() * uint64_t{0x100000000} + std::random_device{}();
  std::atomic<uint64_t> next_token_{0};
  const RedisStoreOptions options_;
  const std::string host_;
  const int port_;  // -1: a unix socket at host_
  std::atomic<int64_t> down_until_ms_{0};
  std::atomic<bool> up_{true};  // until a call fails: what the log's transitions start from
  mutable Mutex error_mu_;
  std::string last_error_ GUARDED_BY(error_mu_);
};

}  // namespace

StatusOr<std::unique_ptr<ReplayStore>> NewRedisReplayStore(const RedisStoreOptions& options) {
  if (options.timeout_ms < 1 || options.retry_after_ms < 0) {
    return InvalidArgument("the replay store's timeout must be at least 1 ms and its retry delay not negative");
  }
  constexpr std::string_view kUnix = "unix:";
  if (options.address.starts_with(kUnix) && options.address.size() > kUnix.size()) {
    return std::unique_ptr<ReplayStore>(new RedisReplayStore(options, options.address.substr(kUnix.size()), -1));
  }
  std::optional<HostPort> hp = ParseHostPort(options.address);
  if (!hp) {
    return InvalidArgument("the replay store must be HOST:PORT or unix:PATH, e.g. 127.0.0.1:6379, not '" +
                           options.address + "'");
  }
  std::string host = hp->host.front() == '[' ? hp->host.substr(1, hp->host.size() - 2) : hp->host;
  return std::unique_ptr<ReplayStore>(new RedisReplayStore(options, std::move(host), hp->port));
}

}  // namespace tbms
