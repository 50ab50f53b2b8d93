// AnswerHandoff: hands a try's answer from its Done (in the core's context)
// to the edge that submitted it. Whichever of the two comes second delivers
// it: the submitter, when the engine answered inside Submit (a 0 ms model on
// an idle core: no hop to another thread and back), else the Done, which
// then posts the delivery to an io thread (never building a response in the
// core's context).
//
//   handoff.Arm();                                   // before Submit
//   Submit(..., [..](TryResult r) { if (handoff.Give(std::move(r))) post(Deliver); });
//   if (handoff.Submitted()) Deliver();              // after Submit returned OK
//
// One answer per Arm. Thread safety: Give from the Done, Submitted from the
// submitter; the answer is read by whoever delivers, after either returned true.
#pragma once

#include <atomic>
#include <utility>

#include "tbms/broker/try.h"

namespace tbms {

class AnswerHandoff {
 public:
  void Arm() { second_.store(false, std::memory_order_relaxed); }
  // The Done: stores the answer; true when Submit has returned, so the Done delivers.
  bool Give(TryResult answer) {
    answer_ = std::move(answer);
    return second_.exchange(true, std::memory_order_acq_rel);
  }
  // The submitter, once Submit returned OK: true when the answer is here, so it delivers.
  bool Submitted() { return second_.exchange(true, std::memory_order_acq_rel); }
  TryResult& answer() { return answer_; }

 private:
  TryResult answer_;
  std::atomic<bool> second_{false};  // set by the first of Give and Submitted
};

}  // namespace tbms
