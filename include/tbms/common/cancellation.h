// Cancellation: one thread telling work under way on another to stop, by
// push, not by a poll. The worker registers how its work stops (cancel a
// gRPC call, shut a socket down) for as long as the work runs; Cancel runs
// that, once, on the cancelling thread. A registration made after Cancel
// runs its stop at once, so a cancel that comes before the work starts is
// not lost.
//
// Thread safety: every member from any thread. The mutex is the object's
// own (the canceller and one worker), held while a stop runs, so a stop must
// not block and must not touch the Cancellation.
#pragma once

#include <functional>

#include "tbms/common/mutex.h"

namespace tbms {

class Cancellation {
 public:
  Cancellation() = default;
  // A copy starts uncancelled, with nothing registered (a copied Batch is a
  // new batch).
  Cancellation(const Cancellation&) {}
  Cancellation& operator=(const Cancellation&) { return *this; }

  void Cancel() const EXCLUDES(mu_);
  bool cancelled() const EXCLUDES(mu_);
  // Uncancelled again, for an object reused for new work; nothing may be
  // registered.
  void Reset() const EXCLUDES(mu_);

  // While it lives, `stop` runs on Cancel; at once, on this thread, if the
  // cancellation came first. One registration at a time. `stop` must
  // outlive it.
  class Registration {
   public:
    Registration(const Cancellation* cancellation, const std::function<void()>& stop);  // null: nothing to hear
    Registration(const Cancellation*, std::function<void()>&&) = delete;  // a temporary would not outlive it
    ~Registration();
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

   private:
    const Cancellation* const cancellation_;
  };

 private:
  mutable Mutex mu_;
  mutable bool cancelled_ GUARDED_BY(mu_) = false;
  mutable const std::function<void()>* stop_ GUARDED_BY(mu_) = nullptr;
};

}  // namespace tbms
