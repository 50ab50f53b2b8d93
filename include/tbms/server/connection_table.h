// ConnectionTable: a listener's open connections, and who gets the next one.
//
// A listener caps its open connections, and each client address may hold a
// share of the cap. At the cap, the connection idle longest (waiting for a
// request, or trickling one; one whose body is under way only when no other
// is idle) is closed for the newcomer, so a pool of idle keep-alives, or a
// flood of them, cannot lock a probe out; when none is idle, a small reserve
// admits connections that may only ask for health (never closed for a
// newcomer: it would serve past the cap).
// The metrics address has a table of its own.
//
// Thread safety: all members from any thread. One mutex, taken when a
// connection opens or closes, never per request.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tbms/common/mutex.h"

namespace tbms {

class ConnectionTable {
 public:
  struct Limits {
    size_t max_open = 4096;
    size_t max_per_client = 1024;  // one client address (a proxy in front needs it higher)
    size_t health_reserve = 16;    // past max_open, for health checks only
  };

  // What a session registers: its idle clock, and how to close it.
  class Entry {
   public:
    virtual ~Entry() = default;
    // Closes the connection if it is still idle; from any thread (the
    // session checks on its own executor).
    virtual void CloseIfIdle() = 0;
    // On the session's thread: waiting for a request since `now_ns` (a
    // steady clock), or busy (0).
    void SetIdleSince(int64_t now_ns) { idle_since_.store(now_ns, std::memory_order_relaxed); }
    // Its request's head is in and its body under way since `now_ns`: it
    // may make room too, but only after every connection waiting for a
    // request (an upload in progress goes last, the longest under way first).
    void SetMidRequestSince(int64_t now_ns) { idle_since_.store(now_ns + kMidRequestRank, std::memory_order_relaxed); }

   private:
    friend class ConnectionTable;
    // Added to a mid-request connection's time, so it ranks after every
    // waiting one (a steady clock's ns stay far below it for centuries).
    static constexpr int64_t kMidRequestRank = int64_t{1} << 61;
    std::atomic<int64_t> idle_since_{0};  // 0: busy; else the lowest is closed first
  };

  // An admitted connection's place; hand it back with Close.
  struct Slot {
    std::list<std::weak_ptr<Entry>>::iterator entry;
    std::string client;
    bool health_only = false;  // admitted from the reserve: health checks only, then close
  };

  explicit ConnectionTable(Limits limits) : limits_(limits) {}

  // The client an address counts as, for max_per_client: an IPv4 address
  // (an IPv4-mapped IPv6 one too) as itself, an IPv6 address by its /64,
  // which one host or LAN usually holds whole ("2001:db8:0:1::/64"); text
  // that is no address, as it is.
  static std::string ClientOf(const std::string& address);

  // Admits `entry`, from address `client`, or refuses it (nullopt). At the
  // cap it closes the connection idle longest, if any.
  std::optional<Slot> Open(const std::string& client, std::weak_ptr<Entry> entry) EXCLUDES(mu_);
  void Close(const Slot& slot) EXCLUDES(mu_);

  size_t open() const EXCLUDES(mu_);

 private:
  // Every session it holds while looking goes into *looked_at.
  std::shared_ptr<Entry> TakeLongestIdle(std::vector<std::shared_ptr<Entry>>* looked_at) REQUIRES(mu_);

  const Limits limits_;
  mutable Mutex mu_;
  std::list<std::weak_ptr<Entry>> entries_ GUARDED_BY(mu_);  // within max_open: evictable when idle
  std::list<std::weak_ptr<Entry>> reserve_ GUARDED_BY(mu_);  // health checks only: never evicted
  std::map<std::string, size_t, std::less<>> per_client_ GUARDED_BY(mu_);
  size_t serving_ GUARDED_BY(mu_) = 0;      // admitted within max_open
  size_t health_only_ GUARDED_BY(mu_) = 0;  // admitted from the reserve
};

}  // namespace tbms
