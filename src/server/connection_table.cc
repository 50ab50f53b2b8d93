#include "tbms/server/connection_table.h"

#include <arpa/inet.h>

#include <cstring>

namespace tbms {

std::string ConnectionTable::ClientOf(const std::string& address) {
  unsigned char bytes[16];
  if (inet_pton(AF_INET6, address.c_str(), bytes) != 1) return address;  // IPv4, or not an address
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char text[INET6_ADDRSTRLEN];
  if (std::memcmp(bytes, kMapped, sizeof kMapped) == 0) {
    return inet_ntop(AF_INET, bytes + 12, text, sizeof text) != nullptr ? std::string(text) : address;
  }
  std::memset(bytes + 8, 0, 8);
  if (inet_ntop(AF_INET6, bytes, text, sizeof text) == nullptr) return address;
  return std::string(text) + "/64";
}

std::optional<ConnectionTable::Slot> ConnectionTable::Open(const std::string& client, std::weak_ptr<Entry> entry) {
  std::shared_ptr<Entry> evicted;  // closed after the lock: CloseIfIdle posts to its session
  // Sessions the eviction held while it looked: let go after the lock, since
  // a session whose other owners let go meanwhile is destroyed by the last
  // reference, and its destructor closes its slot here (Close locks mu_).
  std::vector<std::shared_ptr<Entry>> looked_at;
  std::optional<Slot> slot;
  {
    MutexLock lock(&mu_);
    auto [count, added] = per_client_.try_emplace(client, 0);
    if (count->second >= limits_.max_per_client) return std::nullopt;
    bool health_only = false;
    if (serving_ >= limits_.max_open) {
      evicted = TakeLongestIdle(&looked_at);
      if (evicted == nullptr) {  // every connection is busy: the reserve, for health checks
        if (health_only_ >= limits_.health_reserve) {
          if (count->second == 0) per_client_.erase(count);
          return std::nullopt;
        }
        health_only = true;
      }
    }
    // With an eviction, serving_ passes max_open until the evicted one closes.
    ++(health_only ? health_only_ : serving_);
    ++count->second;
    // The reserve's connections are never evicted: a newcomer in one's place
    // would serve past max_open, and they close after their health check.
    std::list<std::weak_ptr<Entry>>& list = health_only ? reserve_ : entries_;
    list.push_back(std::move(entry));
    slot = Slot{std::prev(list.end()), client, health_only};
  }
  if (evicted) evicted->CloseIfIdle();
  return slot;
}

void ConnectionTable::Close(const Slot& slot) {
  MutexLock lock(&mu_);
  (slot.health_only ? reserve_ : entries_).erase(slot.entry);
  --(slot.health_only ? health_only_ : serving_);
  auto count = per_client_.find(slot.client);
  if (count != per_client_.end() && --count->second == 0) per_client_.erase(count);
}

size_t ConnectionTable::open() const {
  MutexLock lock(&mu_);
  return serving_ + health_only_;
}

// The entry waiting longest for a request, marked busy so the next Open
// does not pick it again; null when none is idle. Linear, and only at the cap.
std::shared_ptr<ConnectionTable::Entry> ConnectionTable::TakeLongestIdle(
    std::vector<std::shared_ptr<Entry>>* looked_at) {
  std::shared_ptr<Entry> oldest;
  int64_t since = 0;
  looked_at->reserve(entries_.size());
  for (const std::weak_ptr<Entry>& weak : entries_) {
    std::shared_ptr<Entry> e = weak.lock();
    if (e == nullptr) continue;
    const int64_t idle = e->idle_since_.load(std::memory_order_relaxed);
    if (idle != 0 && (oldest == nullptr || idle < since)) {
      oldest = e;
      since = idle;
    }
    looked_at->push_back(std::move(e));
  }
  if (oldest) oldest->idle_since_.store(0, std::memory_order_relaxed);
  return oldest;
}

}  // namespace tbms
