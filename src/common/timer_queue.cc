#include "tbms/common/timer_queue.h"

#include <algorithm>
#include <functional>

namespace tbms {
namespace {
constexpr TimerId MakeId(uint32_t slot, uint32_t gen) {
  return (static_cast<uint64_t>(slot) << 32) | gen;
}
}  // namespace

TimerId TimerQueue::Schedule(TimePoint at, Clock::Callback fn) {
  uint32_t slot;
  if (!free_.empty()) {
    slot = free_.back();
    free_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.fn = std::move(fn);
  s.live = true;
  ++live_;
  heap_.push_back(Entry{at, seq_++, slot, s.gen});
  std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  return MakeId(slot, s.gen);
}

void TimerQueue::Release(uint32_t slot) {
  Slot& s = slots_[slot];
  s.fn = nullptr;
  s.live = false;
  ++s.gen;
  if (s.gen == 0) s.gen = 1;  // id 0 is kNoTimer
  free_.push_back(slot);
  --live_;
}

void TimerQueue::Cancel(TimerId id) {
  const auto slot = static_cast<uint32_t>(id >> 32);
  const auto gen = static_cast<uint32_t>(id);
  if (id == kNoTimer || slot >= slots_.size()) return;
  if (slots_[slot].live && slots_[slot].gen == gen) Release(slot);
  // Cancelled entries wait in the heap until they reach the top; a try
  // answered early leaves its deadline entry for up to tloc. Rebuild when they
  // outnumber the live ones, so the heap stays O(live) (amortised O(1)).
  if (heap_.size() > 2 * live_ + 1024) Compact();
}

void TimerQueue::Compact() {
  std::erase_if(heap_, [this](const Entry& e) {
    const Slot& s = slots_[e.slot];
    return !s.live || s.gen != e.gen;
  });
  std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
}

void TimerQueue::DropDeadTop() {
  while (!heap_.empty()) {
    const Entry& top = heap_.front();
    const Slot& s = slots_[top.slot];
    if (s.live && s.gen == top.gen) return;
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
    heap_.pop_back();
  }
}

std::optional<TimePoint> TimerQueue::NextDue() {
  DropDeadTop();
  if (heap_.empty()) return std::nullopt;
  return heap_.front().at;
}

std::optional<TimerQueue::Due> TimerQueue::PopDue(TimePoint now) {
  DropDeadTop();
  if (heap_.empty() || heap_.front().at > now) return std::nullopt;
  const Entry top = heap_.front();
  std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
  heap_.pop_back();
  Due due{top.at, std::move(slots_[top.slot].fn)};
  Release(top.slot);
  return due;
}

}  // namespace tbms
