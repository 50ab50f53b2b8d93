// CoreLag: how late the core has run its timers lately.
//
// A timer that runs late means the core did not get to it: the io thread was
// busy, or the process was not on a CPU. Whatever the core answers then
// leaves about that late too, so the broker plans its tries to end that much
// before their deadline (docs/semantics.md, "When the server is short of
// CPU"). Lately is the largest lateness of the current and the previous
// window of kWindow: a stall is remembered for one or two windows, then
// forgotten, and an idle core (no timers) reads zero.
// Thread safety: Observe from one thread (the core); Recent from any.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

#include "tbms/common/time.h"

namespace tbms {

class CoreLag {
 public:
  static constexpr Duration kWindow = std::chrono::milliseconds(250);

  // A timer due at `due` ran at `now`.
  void Observe(TimePoint now, TimePoint due) {
    const int64_t window = WindowOf(now);
    if (window != window_.load(std::memory_order_relaxed)) {
      const bool next = window == window_.load(std::memory_order_relaxed) + 1;
      previous_.store(next ? current_.load(std::memory_order_relaxed) : 0, std::memory_order_relaxed);
      current_.store(0, std::memory_order_relaxed);
      window_.store(window, std::memory_order_relaxed);
    }
    const int64_t late = std::max<int64_t>(0, (now - due).count());
    if (late > current_.load(std::memory_order_relaxed)) current_.store(late, std::memory_order_relaxed);
  }

  // The largest lateness in the window of `now` and the one before it. A
  // reader racing Observe may see a window's values mixed: a heuristic
  // margin, never a correctness question.
  Duration Recent(TimePoint now) const {
    const int64_t age = WindowOf(now) - window_.load(std::memory_order_relaxed);
    if (age == 0) {
      return Duration(std::max(current_.load(std::memory_order_relaxed), previous_.load(std::memory_order_relaxed)));
    }
    return Duration(age == 1 ? current_.load(std::memory_order_relaxed) : 0);
  }

 private:
  static int64_t WindowOf(TimePoint t) { return t.time_since_epoch() / kWindow; }

  std::atomic<int64_t> window_{-2};  // never adjacent to a real window at first
  std::atomic<int64_t> current_{0};  // microseconds
  std::atomic<int64_t> previous_{0};
};

}  // namespace tbms
