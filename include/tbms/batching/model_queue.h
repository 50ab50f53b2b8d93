// ModelQueue: where a try's work for one model goes. The broker sees a
// model only through this interface (TryRequest members hold a ModelQueue),
// so what serves the model behind it — one batcher today, a placement over
// devices or remote endpoints tomorrow — can change without the broker or
// the model table knowing. A Batcher is one.
// Thread-compatible: every call in the core's context.
#pragma once

#include <cstdint>
#include <memory>

#include "tbms/backends/executor.h"
#include "tbms/batching/service_time.h"
#include "tbms/common/status.h"
#include "tbms/common/time.h"

namespace tbms {

// Receives the outcome of each queued item: an answer, DEADLINE_EXCEEDED
// when dropped as late, or the backend's error.
class ItemSink {
 public:
  virtual ~ItemSink() = default;
  virtual void OnItemDone(uint64_t token, StatusOr<Answer> result) = 0;
  // The item's batch has started, with this estimate of its service time.
  // What an estimate made at enqueue could only guess (the wait, the batch
  // it joins) is now known.
  virtual void OnItemStarted(uint64_t /*token*/, TimePoint /*started*/, const LatencyEstimate& /*batch*/) {}
};

struct WorkItem {
  uint64_t token = 0;  // opaque to the batcher, handed back to the sink
  std::shared_ptr<const Inputs> inputs;
  TimePoint deadline;
  int priority = 0;
  Duration est{0};  // the caller's estimate: the prior until service times are learned
};

// Identifies a queued item for Cancel.
struct ItemId {
  int priority = 0;
  TimePoint deadline;
  uint64_t seq = 0;
};

class ModelQueue {
 public:
  virtual ~ModelQueue() = default;
  // Takes the item iff the result is OK. RESOURCE_EXHAUSTED when the queue is
  // full; DEADLINE_EXCEEDED when it could not finish in time even if started now.
  virtual StatusOr<ItemId> Enqueue(WorkItem item) = 0;
  // Removes a queued item; false if it is not queued (already running or done:
  // the sink will still hear of it, and the caller ignores that outcome). A
  // running batch whose items' tries are all over by then is abandoned
  // (Batch::abandoned): set Inputs::over before cancelling.
  virtual bool Cancel(const ItemId& id) = 0;
  // Expected (E) and high-quantile (P) latency of an item enqueued now with
  // `priority`: queue wait plus the service time of the batch it would join.
  virtual LatencyEstimate Predict(int priority, Duration prior) const = 0;
};

}  // namespace tbms
