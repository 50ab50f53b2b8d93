// Batcher: the queue and batch formation of one model (version).
//
// Items are ordered by priority (higher first), then by deadline (earliest
// first). A batch goes to a free replica when
//   - the queue holds a full batch (max_batch_size), or a preferred size;
//   - the oldest item has waited max_queue_delay;
//   - the earliest deadline needs it now: deadline - P(batch) <= now.
// The batch is the size that answers the most items in time (FormBatch).
// Items that cannot make their deadline even if started now (now + E(1) >
// deadline), or that the batch chosen would finish late, are dropped as
// late, also while every replica is busy (a timer fires when the next item
// becomes late). Service times of finished batches feed the
// ServiceTimeModel, which Predict() combines with the queue state.
//
// Replicas come and go while serving (SetReplicas; the executor marks one
// unavailable and back; a device is drained): a batcher keeps its queue and
// its learned service times throughout, and a draining replica finishes its
// batch first. With no replica serving, nothing waits: queued and new items
// fail UNAVAILABLE at once, so their tries fall back.
//
// Replicas are placed in groups (a model's instance groups, one per
// device). A group with a time share takes at most that fraction of its
// device's time: a batch is admitted while the group's credit (device time,
// earned at `share` per second, up to share x kShareWindow) is not
// negative, and charged its service time.
//
// Thread-compatible: every call, and every executor completion, runs in the
// core's context. Sink callbacks are never invoked from inside Enqueue or
// Cancel (drops found there are reported on a timer due at once).
// Destroy a batcher only once its executor runs no batch (completions refer
// to it), and after Close if its clock may still run timers or is used from
// another context (the server destroys retired versions off the core).
// Tuning and trade-offs: src/batching/README.md.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <memory_resource>
#include <set>
#include <string>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/batching/model_queue.h"
#include "tbms/batching/service_time.h"
#include "tbms/common/clock.h"
#include "tbms/common/status.h"

namespace tbms {

struct ModelStats;
struct PlacementStats;
class LatencyHistogram;

enum class ReplicaState : uint8_t {
  kServing,      // takes batches
  kUnavailable,  // its executor says it failed: no batches until it is back
  kDraining,     // finishing its batch, then removed
  kRemoved,      // gone for good (its index is not reused)
};

class Batcher final : public ModelQueue, public Executor::Listener {
 public:
  static constexpr int kMaxReplicas = 1024;  // replicas ever started, per batcher
  static constexpr int kMaxBatchSize = 4096;  // what max_batch_size (and every batch-size flag) may be
  static constexpr Duration kNever = std::chrono::hours(24 * 365);  // Predict with no replica
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
    // Where the replicas run, in replica order (the first `count` are group
    // 0's, ...); replicas added later join the last group. Empty: one group
    // of them all, with no share and no placement stats.
    struct Group {
      int count = 1;
      PlacementStats* stats = nullptr;  // its busy time and serving replicas, if reported
      double share = 0;                 // of its device's time, in (0, 1]; 0: no limit
    };
    std::vector<Group> groups;
  };
  static constexpr Duration kShareWindow = std::chrono::milliseconds(100);  // a share's burst
  static StatusOr<std::unique_ptr<Batcher>> Create(Options options, Clock* clock,
                                                   Executor* executor, ItemSink* sink);
  ~Batcher() override;
  // Cancels the batcher's timer and closes its executor (Executor::Close):
  // nothing reaches the batcher after this, so it may be destroyed off the
  // core, even while a batch still runs.
  void Close();

  // ModelQueue (see model_queue.h). Predict is kNever with no replica serving.
  StatusOr<ItemId> Enqueue(WorkItem item) override;
  bool Cancel(const ItemId& id) override;
  LatencyEstimate Predict(int priority, Duration prior) const override;

  // Serves with `count` replicas: adds them through the executor, or drains
  // the newest. INVALID_ARGUMENT outside [0, kMaxReplicas]; the executor's
  // error (UNIMPLEMENTED: fixed replicas) when it cannot add one.
  Status SetReplicas(int count);
  void OnReplicaAvailable(int replica, bool available) override;
  // A device drained (false) or back (true): every replica of `group`
  // takes no batch while it is down (a busy one finishes its batch).
  void SetGroupUp(int group, bool up);
  int groups() const { return static_cast<int>(groups_.size()); }

  // How batches form, changed while serving (the online tuner): the queue,
  // the learned service times and the batches running are kept.
  // INVALID_ARGUMENT outside [1, kMaxBatchSize] or for a negative delay.
  struct Batching {  // starts as Options' own
    int max_batch_size = 0;
    Duration max_queue_delay{0};
  };
  Status SetBatching(int max_batch_size, Duration max_queue_delay);
  const Batching& batching() const { return batching_; }
  // Where each finished item's lag (enqueue to answer) is recorded, if
  // anywhere (nullptr: nowhere); the caller owns and resets it.
  void set_lag_window(LatencyHistogram* window) { lag_window_ = window; }
  // Items ever accepted by Enqueue: what arrives, for a rate.
  uint64_t accepted() const { return seq_; }

  const std::string& model() const { return options_.model; }
  size_t queued() const { return queue_.size(); }
  int serving_replicas() const { return serving_; }
  int replicas_in(ReplicaState state) const;
  int busy_replicas() const { return static_cast<int>(busy_until_.size()); }
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
  struct Replica {
    ReplicaState state = ReplicaState::kServing;
    int group = 0;
    bool failed = false;  // its executor says so
    bool busy = false;
    TimePoint started;
    int batch_size = 0;
    Duration expected{0};  // E of this batch, fixed when it started
    std::vector<uint64_t> tokens;
    std::vector<uint64_t> seqs;       // per item, its ItemId's, for Cancel (stops_abandoned_work_ only)
    std::vector<TimePoint> enqueued;  // per item, while a lag window listens
    Batch batch;
  };

  Batcher(Options options, Clock* clock, Executor* executor, ItemSink* sink);
  struct GroupState {
    Options::Group config;
    bool up = true;
    Duration credit{0};  // device time it may still take (share > 0), as of credit_at
    TimePoint credit_at{};
    Duration CreditAt(TimePoint now) const;  // earned at `share` per second, capped
    // How long until a batch may start: 0 when the credit is positive.
    Duration Wait(TimePoint now) const;
  };
  void Dispatch();
  // The free replica to run the next batch on, or -1 (then `*ready` is when
  // a group's share admits one).
  int TakeFree(TimePoint now, TimePoint* ready);
  Duration ShareWait(TimePoint now) const;  // until a free replica's group admits a batch
  void Fail(const Status& status);  // every queued item, at once
  void AbandonIfAllOver(uint64_t seq);  // the running batch holding item `seq`
  void Refresh(int replica);        // its state from failed and its group's up
  void PublishReplicas() const;     // to the groups' placement stats
  using QueueIt = std::pmr::set<Queued, Order>::iterator;
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
  QueueIt DropAsLate(QueueIt it);
  TimePoint FirstLate() const;
  QueueIt NextLevel(QueueIt it) const;  // the first item of the next priority level
  bool ShouldStart(TimePoint now, size_t count, TimePoint* recheck) const;
  size_t BatchSize(size_t count) const;
  // The service-time model's estimate as of now (stale samples forgotten).
  LatencyEstimate Estimate(int batch_size, Duration prior) const {
    return service_times_.Estimate(batch_size, prior, clock_->Now());
  }
  // Drops the late items of the batch that answers the most in time; returns how many remain to start.
  size_t FormBatch(TimePoint now);
  void Start(int replica, size_t count);
  void OnBatchDone(int replica, BatchResult result);
  void Idle(int replica);
  void SetState(int replica, ReplicaState state);
  void RecordBatch(int replica, int ran, size_t skipped, const BatchResult& result);
  void ReportLater(uint64_t token, Status status);
  void ArmTimer(TimePoint at);
  void CancelTimer();
  void PublishBatching();  // to the report channel, if it listens

  Batching batching_;
  // Constant after construction (batching_ holds what changes of it).
  const Options options_;
  Clock* const clock_;
  Executor* const executor_;
  // Its work under way can stop (Executor::StopsAbandonedWork): only then are
  // running batches' items (Replica::seqs) kept and batches abandoned.
  const bool stops_abandoned_work_;
  ItemSink* const sink_;

  // The nodes of the ordered containers below, reused as items and batches
  // come and go: once warm, queueing an item allocates nothing. Before them,
  // so it outlives them.
  std::pmr::unsynchronized_pool_resource nodes_;
  std::pmr::set<Queued, Order> queue_{&nodes_};
  std::pmr::map<int, size_t, std::greater<>> per_priority_{&nodes_};  // queued items by priority
  Duration max_prior_{0};  // largest est ever queued: bounds every item's E(1)
  TimePoint last_enqueue_;  // for mean_gap_
  Duration mean_gap_{0};    // between enqueues (EWMA): what joins a batch while it waits
  // By index, as the executor numbers them; a deque, so growing it keeps the
  // batches that executors hold by reference where they are.
  std::deque<Replica> replicas_;
  std::vector<GroupState> groups_;
  bool shared_ = false;  // some group has a share
  double slowest_share_ = 1;  // the smallest: Predict's rounds take T_b / it
  int serving_ = 0;                // replicas in kServing
  std::vector<int> free_;          // serving replicas not busy (a stack)
  size_t finishing_ = 0;           // replicas whose results the sink is hearing (OnBatchDone)
  // Busy replicas by expected end: Predict finds the first to free in
  // O(overdue + log n), not by walking thousands of replicas.
  std::pmr::set<std::pair<TimePoint, int>> busy_until_{&nodes_};
  uint64_t seq_ = 0;
  ServiceTimeModel service_times_;
  TimerId timer_ = kNoTimer;
  TimePoint timer_at_;
  LatencyHistogram* lag_window_ = nullptr;
  std::vector<TimePoint> due_;  // FormBatch's heap, kept to reuse its memory
};

}  // namespace tbms
