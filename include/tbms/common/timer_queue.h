// TimerQueue: a min-heap of one-shot timers, the engine behind every Clock.
//
// Cancel is O(1) amortised: the slot is freed at once and its heap entry is
// skipped when it reaches the top, or dropped when the heap is rebuilt (slots
// carry a generation, so a reused slot never fires a stale entry).
// Thread-compatible.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "tbms/common/clock.h"

namespace tbms {

class TimerQueue {
 public:
  TimerId Schedule(TimePoint at, Clock::Callback fn);
  void Cancel(TimerId id);

  // Due time of the earliest live timer, if any.
  std::optional<TimePoint> NextDue();
  struct Due {
    TimePoint at;
    Clock::Callback fn;
  };
  // Pops the earliest live timer due at or before `now`; nullopt when none
  // is due. The caller runs it, so a callback may schedule or cancel freely.
  std::optional<Due> PopDue(TimePoint now);
  size_t live() const { return live_; }
  size_t TEST_heap_size() const { return heap_.size(); }

 private:
  struct Entry {
    TimePoint at;
    uint64_t seq;
    uint32_t slot;
    uint32_t gen;
    bool operator>(const Entry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  struct Slot {
    Clock::Callback fn;
    uint32_t gen = 1;
    bool live = false;
  };
  void Release(uint32_t slot);
  void Compact();
  void DropDeadTop();

  std::vector<Entry> heap_;  // std::push_heap with greater-than: min at front
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  uint64_t seq_ = 0;
  size_t live_ = 0;
};

}  // namespace tbms
