// Batcher: the queue and batch formation of one model (version).
//
// Items are ordered by priority (higher first), then by deadline (earliest
// first). A batch goes to a free instance when
//   - the queue holds a full batch (max_batch_size), or a preferred size;
//   - the oldest item has waited max_queue_delay;
//   - the earliest deadline needs it now: deadline - P(batch) <= now.
// Items that cannot make their deadline even if started now (now + E(1) >
// deadline) are dropped as late, also while every instance is busy (a timer
// fires when the next item becomes late). Service times of finished batches feed the
// ServiceTimeModel, which Predict() combines with the queue state.
//
// Thread-compatible: every call, and every executor completion, runs in the
// core's context. Sink callbacks are never invoked from inside Enqueue or
// Cancel (drops found there are reported on a timer due at once).
// Destroy a batcher only once its executor runs no batch (completions refer
// to it), and after Close if its clock may still run timers or is used from
// another context (the server destroys retired versions off the core).
// Tuning and trade-offs: src/batching/README.md.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/batching/service_time.h"
#include "tbms/common/clock.h"
#include "tbms/common/status.h"

namespace tbms {

struct ModelStats;

// Receives the outcome of each queued item: an answer, DEADLINE_EXCEEDED
// when dropped as late, or the backend's error.
class ItemSink {
 public:
  virtual ~ItemSink() = default;
  virtual void OnItemDone(uint64_t token, StatusOr<Answer> result) = 0;
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

class Batcher {
 public:
  struct Options {
    std::string model;  // name used in errors, reports and metrics
    int max_batch_size = 8;
    std::vector<int> preferred_batch_sizes;  // each in [1, max_batch_size]
    Duration max_queue_delay{0};
    size_t max_queue_size = 1024;
    ServiceTimeModel::Options service_time;
    ModelStats* stats = nullptr;  // counters for the report channel, if any
    // Baselines: drop an item only once its deadline has passed (expired),
    // not when it can no longer finish (the default, and TBMS's rule).
    bool drop_only_expired = false;
  };
  static StatusOr<std::unique_ptr<Batcher>> Create(Options options, Clock* clock,
                                                   Executor* executor, ItemSink* sink);
  ~Batcher();
  // Cancels the batcher's pending timer (before it is destroyed off the core).
  void Close();

  // Takes the item iff the result is OK. RESOURCE_EXHAUSTED when the queue is
  // full; DEADLINE_EXCEEDED when it could not finish in time even if started now.
  StatusOr<ItemId> Enqueue(WorkItem item);
  // Removes a queued item; false if it is not queued (already running or done:
  // the sink will still hear of it, and the caller ignores that outcome).
  bool Cancel(const ItemId& id);
  // Expected (E) and high-quantile (P) latency of an item enqueued now with
  // `priority`: queue wait plus the service time of the batch it would join.
  LatencyEstimate Predict(int priority, Duration prior) const;

  const std::string& model() const { return options_.model; }
  size_t queued() const { return queue_.size(); }
  int busy_instances() const { return static_cast<int>(instances_.size() - free_.size()); }
  ServiceTimeModel& service_times() { return service_times_; }

 private:
  struct Queued {
    int priority;
    TimePoint deadline;
    uint64_t seq;
    TimePoint enqueued;
    uint64_t token;
    Duration est;
    std::shared_ptr<const Inputs> inputs;
  };
  struct Order {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      if (a.priority != b.priority) return a.priority > b.priority;
      if (a.deadline != b.deadline) return a.deadline < b.deadline;
      return a.seq < b.seq;
    }
  };
  struct Instance {
    bool busy = false;
    TimePoint started;
    int batch_size = 0;
    Duration expected{0};  // E of this batch, fixed when it started
    std::vector<uint64_t> tokens;
    Batch batch;
  };

  Batcher(Options options, Clock* clock, Executor* executor, ItemSink* sink);
  void Dispatch();
  using QueueIt = std::set<Queued, Order>::iterator;
  void Insert(Queued q);
  QueueIt Erase(QueueIt it);
  // The first moment `q` can no longer finish even if started at once.
  TimePoint LateAt(const Queued& q) const;
  // Visits the items that may be late by `by` (within each priority level,
  // deadlines ascend, so a level's scan stops at its first safe item).
  // `visit` returns the iterator to continue from.
  template <typename Visit>
  void ScanNearDeadline(TimePoint by, Visit visit);
  void DropLate(TimePoint now);
  TimePoint FirstLate() const;
  QueueIt NextLevel(QueueIt it) const;  // the first item of the next priority level
  bool ShouldStart(TimePoint now, size_t count, TimePoint* recheck) const;
  size_t BatchSize(size_t count) const;
  // The service-time model's estimate as of now (stale samples forgotten).
  LatencyEstimate Estimate(int batch_size, Duration prior) const {
    return service_times_.Estimate(batch_size, prior, clock_->Now());
  }
  size_t DeadlineCappedBatchSize(TimePoint now) const;
  void Start(int instance, size_t count);
  void OnBatchDone(int instance, BatchResult result);
  void RecordBatch(const Instance& in, const BatchResult& result);
  void ReportLater(uint64_t token, Status status);
  void ArmTimer(TimePoint at);

  // Constant after construction.
  const Options options_;
  Clock* const clock_;
  Executor* const executor_;
  ItemSink* const sink_;

  std::set<Queued, Order> queue_;
  std::map<int, size_t, std::greater<>> per_priority_;  // queued items by priority
  Duration max_prior_{0};  // largest est ever queued: bounds every item's E(1)
  TimePoint last_enqueue_;  // for mean_gap_
  Duration mean_gap_{0};    // between enqueues (EWMA): what joins a batch while it waits
  std::vector<Instance> instances_;
  std::vector<int> free_;  // instances not busy (a stack)
  // Busy instances by expected end: Predict finds the first to free in
  // O(overdue + log n), not by walking thousands of instances.
  std::set<std::pair<TimePoint, int>> busy_until_;
  uint64_t seq_ = 0;
  ServiceTimeModel service_times_;
  TimerId timer_ = kNoTimer;
  TimePoint timer_at_;
};

}  // namespace tbms
