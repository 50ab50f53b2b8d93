// Executor: runs batches of one model version on its replicas.
//
// A replica is one execution slot of a model: a thread, a GPU stream, a
// remote connection or a simulated timeline. ("Instance" is the tenant of
// the design brief, the INSTANCENAME a try is sent to; a model's copies are
// replicas.) The batcher hands an executor one batch per free replica and
// learns the service time from what comes back. Executors for a GPU or a
// remote server (KServe v2, Triton) implement this same interface.
// Thread safety: every method in the core's context (ExecutorContext::core).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tbms/common/cancellation.h"
#include "tbms/common/clock.h"
#include "tbms/common/core_runner.h"
#include "tbms/common/status.h"
#include "tbms/common/tensor.h"
#include "tbms/common/time.h"

namespace tbms {

// Set once, by the core, when the try it belongs to is over (answered, or
// past its deadline); read on executors' threads, which then skip the work:
// no one waits for its answer. A copy starts unset.
class TryOver {
 public:
  TryOver() = default;
  TryOver(const TryOver&) {}
  TryOver& operator=(const TryOver&) { return *this; }
  void Set() const { over_.store(true, std::memory_order_relaxed); }
  bool is_set() const { return over_.load(std::memory_order_relaxed); }

 private:
  mutable std::atomic<bool> over_{false};
};

// The inputs of one try or infer, shared (immutable) by all of its attempts:
// a question, v2 tensors, or both (a one-element BYTES tensor "question" also
// fills `question`, so text backends read one field). One Inputs per try:
// `over` tells every attempt's executor when the try is over.
struct Inputs {
  Inputs() = default;
  explicit Inputs(std::string q) : question(std::move(q)) {}

  std::string question;
  std::vector<Tensor> tensors;
  TryOver over;
};

// The answer of an item an executor or backend skipped because its try was
// over: CANCELLED. Its batch's service time is learned for the items that ran.
Status SkippedTryOver();
bool IsSkippedTryOver(const Status& status);

// An answer is a JSON value, kept as its serialized text.
using Answer = std::string;

struct Batch {
  std::vector<std::shared_ptr<const Inputs>> items;
  // The earliest deadline of its items: work still running then is wasted,
  // so an executor that can give up (a remote call's timeout) may.
  TimePoint deadline = TimePoint::max();
  // Every item's try is over: nothing the batch computes can be used.
  bool AllOver() const;
  // Cancelled by the batcher when, while the batch runs, every item's try
  // ends (AllOver): an executor whose work under way can stop (a remote
  // call) registers how, so the work stops then instead of at its timeout.
  Cancellation abandoned;
};

struct BatchResult {
  Duration service_time{0};                 // as measured by the executor
  std::vector<StatusOr<Answer>> answers;    // one per batch item, same order
  // Answers that are SkippedTryOver(): items that were not computed.
  size_t Skipped() const;
};

// What the server gives every executor: the core's clock (a simulated
// execution is a timer on it) and the core's runner, where work finished on
// another thread is handed back (CoreRunner::Post).
struct ExecutorContext {
  Clock* clock = nullptr;
  CoreRunner* core = nullptr;
  // Hears that a house device failed under a model (a GPU error), from any
  // thread: the server drains it. May be empty.
  std::function<void(const std::string& device, const Status& why)> device_failed{};
};

class Executor {
 public:
  using Done = std::function<void(BatchResult)>;
  // Hears of replicas that fail and come back (the batcher that feeds the executor).
  class Listener {
   public:
    virtual ~Listener() = default;
    virtual void OnReplicaAvailable(int replica, bool available) = 0;
  };
  virtual ~Executor() = default;

  // Replicas ever started: indexes 0 .. replicas() - 1 (removed ones included).
  virtual int replicas() const = 0;
  // Runs `batch` on `replica` (0 <= replica < replicas(), free and not
  // removed). The batch stays alive and unchanged until `done` is called.
  // `done` is called exactly once, in the core's context, never from inside
  // Run; not at all once Close has been called.
  virtual void Run(int replica, const Batch& batch, Done done) = 0;

  // Stops reporting: no done is called after it, so the batcher and the
  // executor can then be destroyed off the core while a batch still runs
  // (the server's end). A batch under way finishes, unreported; a thread's
  // is joined by the destructor. In the core's context.
  void Close() { open_->store(false, std::memory_order_relaxed); }

  // Hot plug. AddReplica starts one more replica and returns its index (the
  // next one); RemoveReplica stops an idle replica for good (its index is not
  // reused). UNIMPLEMENTED where an executor's replicas are fixed.
  virtual StatusOr<int> AddReplica() { return Unimplemented("this executor's replicas are fixed"); }
  virtual Status RemoveReplica(int /*replica*/) { return Unimplemented("this executor's replicas are fixed"); }

  // What a batch started now cannot take less than, as the executor hears
  // from outside: a shared remote worker's own estimate, wait included, of
  // a new request (0: nothing known). The batcher's predictions take it as
  // a floor, so brokers sharing a worker do not each assume they are alone.
  virtual Duration ExpectedFloor() const { return Duration(0); }

  // Whether work under way can stop when its batch is abandoned
  // (Batch::abandoned: a remote call); only then does the batcher look for
  // the running batch of an item cancelled too late to leave its queue.
  virtual bool StopsAbandonedWork() const { return false; }

  // Set once by the batcher that feeds this executor, before the first Run.
  void set_listener(Listener* listener) { listener_ = listener; }

 protected:
  // What a completion that comes later (a thread's post, a timer) checks,
  // in the core's context, before it calls done: false once closed.
  using OpenFlag = std::shared_ptr<const std::atomic<bool>>;
  OpenFlag open() const { return open_; }

  // A replica failed (false: it gets no more batches) or came back (true).
  void ReplicaAvailable(int replica, bool available) {
    if (listener_ != nullptr) listener_->OnReplicaAvailable(replica, available);
  }

 private:
  Listener* listener_ = nullptr;
  // Shared with completions under way, which may outlive the executor.
  const std::shared_ptr<std::atomic<bool>> open_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace tbms
