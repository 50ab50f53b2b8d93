#include "tbms/server/connection_table.h"

namespace tbms {

std::optional<ConnectionTable::Slot> ConnectionTable::Open(const std::string& client, std::weak_ptr<Entry> entry) {
  std::shared_ptr<Entry> evicted;  // closed after the lock: CloseIfIdle posts to its session
  std::optional<Slot> slot;
  {
    MutexLock lock(&mu_);
    auto [count, added] = per_client_.try_emplace(client, 0);
    if (count->second >= limits_.max_per_client) return std::nullopt;
    bool health_only = false;
    if (serving_ >= limits_.max_open) {
      evicted = TakeLongestIdle();
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
    entries_.push_back(std::move(entry));
    slot = Slot{std::prev(entries_.end()), client, health_only};
  }
  if (evicted) evicted->CloseIfIdle();
  return slot;
}

void ConnectionTable::Close(const Slot& slot) {
  MutexLock lock(&mu_);
  entries_.erase(slot.entry);
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
std::shared_ptr<ConnectionTable::Entry> ConnectionTable::TakeLongestIdle() {
  std::shared_ptr<Entry> oldest;
  int64_t since = 0;
  for (const std::weak_ptr<Entry>& weak : entries_) {
    std::shared_ptr<Entry> e = weak.lock();
    if (e == nullptr) continue;
    const int64_t idle = e->idle_since_.load(std::memory_order_relaxed);
    if (idle != 0 && (oldest == nullptr || idle < since)) {
      oldest = std::move(e);
      since = idle;
    }
  }
  if (oldest) oldest->idle_since_.store(0, std::memory_order_relaxed);
  return oldest;
}

}  // namespace tbms
