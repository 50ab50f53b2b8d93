#include "tbms/batching/batcher.h"

#include <algorithm>

#include "tbms/loadgen/latency_histogram.h"
#include "tbms/report/stats.h"

namespace tbms {
namespace {

// What Create and SetBatching accept of the two settings that change while serving.
Status CheckBatching(const std::string& model, int max_batch_size, Duration max_queue_delay) {
  if (max_batch_size < 1 || max_batch_size > Batcher::kMaxBatchSize) {
    return InvalidArgument(model + ": max_batch_size must be in [1, " + std::to_string(Batcher::kMaxBatchSize) + "]");
  }
  if (max_queue_delay < Duration(0)) return InvalidArgument(model + ": max_queue_delay must be >= 0");
  return OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<Batcher>> Batcher::Create(Options options, Clock* clock,
                                                   Executor* executor, ItemSink* sink) {
  if (clock == nullptr || executor == nullptr || sink == nullptr) {
    return InvalidArgument("batcher needs a clock, an executor and a sink");
  }
  const std::string& m = options.model;
  if (Status s = CheckBatching(m, options.max_batch_size, options.max_queue_delay); !s.ok()) return s;
  for (int p : options.preferred_batch_sizes) {
    if (p < 1 || p > options.max_batch_size) {
      return InvalidArgument(m + ": preferred batch size " + std::to_string(p) +
                             " is outside [1, max_batch_size]");
    }
  }
  std::sort(options.preferred_batch_sizes.begin(), options.preferred_batch_sizes.end());
  if (options.max_queue_size < 1) return InvalidArgument(m + ": max_queue_size must be >= 1");
  if (executor->replicas() < 1) return InvalidArgument(m + ": needs at least one replica");
  int placed = 0;
  for (const Options::Group& g : options.groups) {
    if (g.count < 1) return InvalidArgument(m + ": a replica group needs at least one replica");
    if (!(g.share >= 0 && g.share <= 1)) return InvalidArgument(m + ": a group's share must be in [0, 1]");
    placed += g.count;
  }
  if (!options.groups.empty() && placed != executor->replicas()) {
    return InvalidArgument(m + ": the groups place " + std::to_string(placed) + " replicas, the executor runs " +
                           std::to_string(executor->replicas()));
  }
  return std::unique_ptr<Batcher>(new Batcher(std::move(options), clock, executor, sink));
}

Batcher::Batcher(Options options, Clock* clock, Executor* executor, ItemSink* sink)
    : batching_{options.max_batch_size, options.max_queue_delay},
      options_(std::move(options)),
      clock_(clock),
      executor_(executor),
      stops_abandoned_work_(executor->StopsAbandonedWork()),
      sink_(sink),
      replicas_(static_cast<size_t>(executor->replicas())),
      serving_(executor->replicas()),
      service_times_(options_.service_time) {
  for (int i = serving_ - 1; i >= 0; --i) free_.push_back(i);  // 0 first
  if (options_.groups.empty()) groups_.push_back({.config = {.count = serving_}});
  for (const Options::Group& g : options_.groups) groups_.push_back({.config = g});
  size_t r = 0;
  for (size_t g = 0; g < groups_.size(); ++g) {
    GroupState& group = groups_[g];
    shared_ = shared_ || group.config.share > 0;
    if (group.config.share > 0) slowest_share_ = std::min(slowest_share_, group.config.share);
    group.credit = std::chrono::duration_cast<Duration>(kShareWindow * group.config.share);
    group.credit_at = clock_->Now();
    for (int i = 0; i < group.config.count && r < replicas_.size(); ++i) replicas_[r++].group = static_cast<int>(g);
  }
  executor_->set_listener(this);
  PublishBatching();
  PublishReplicas();
}

Duration Batcher::GroupState::CreditAt(TimePoint now) const {
  if (config.share <= 0) return Duration::max();
  const Duration cap = std::chrono::duration_cast<Duration>(kShareWindow * config.share);
  return std::min(cap, credit + std::chrono::duration_cast<Duration>((now - credit_at) * config.share));
}

Duration Batcher::GroupState::Wait(TimePoint now) const {
  const Duration c = CreditAt(now);
  if (c >= Duration(0)) return Duration(0);
  return std::chrono::ceil<Duration>(std::chrono::duration<double, std::micro>(-c.count()) / config.share);
}

// The executor may be gone already (a ModelVersion destroys it first), so
// it is not told: it reports nothing once its batcher is destroyed.
Batcher::~Batcher() { CancelTimer(); }

void Batcher::Close() {
  CancelTimer();
  executor_->Close();
}

void Batcher::CancelTimer() {
  if (timer_ != kNoTimer) clock_->Cancel(timer_);
  timer_ = kNoTimer;
}

Status Batcher::SetBatching(int max_batch_size, Duration max_queue_delay) {
  if (Status s = CheckBatching(options_.model, max_batch_size, max_queue_delay); !s.ok()) return s;
  batching_ = {max_batch_size, max_queue_delay};
  PublishBatching();
  // A shorter delay or a smaller full batch may start one now; the timer
  // re-checks at once rather than starting work inside the caller.
  ArmTimer(clock_->Now());
  return OkStatus();
}

StatusOr<ItemId> Batcher::Enqueue(WorkItem item) {
  const TimePoint now = clock_->Now();
  if (serving_ == 0) return Unavailable(options_.model + ": no replica serves (drained, removed or failed)");
  if (queue_.size() >= options_.max_queue_size) {
    return ResourceExhausted(options_.model + ": queue is full (" +
                             std::to_string(options_.max_queue_size) + " items)");
  }
  if (!options_.drop_only_expired &&
      now + Estimate(1, item.est).expected > item.deadline) {
    if (options_.stats) AddRelaxed<uint64_t>(options_.stats->late_drops, 1);
    return DeadlineExceeded(options_.model + ": cannot finish before the deadline");
  }
  if (last_enqueue_ != TimePoint{}) {  // an EWMA of the gap between arrivals
    mean_gap_ = mean_gap_ == Duration(0) ? now - last_enqueue_ : (mean_gap_ * 7 + (now - last_enqueue_)) / 8;
  }
  last_enqueue_ = now;
  const ItemId id{item.priority, item.deadline, seq_++};
  Insert(Queued{id.priority, id.deadline, id.seq, now, item.token, item.est, std::move(item.inputs)});
  Dispatch();
  return id;
}

bool Batcher::Cancel(const ItemId& id) {
  auto it = queue_.find(id);
  if (it == queue_.end()) {
    if (stops_abandoned_work_) AbandonIfAllOver(id.seq);
    return false;
  }
  Erase(it);
  return true;
}

// A running batch is not split (rule 7), but once every item's try is over
// its executor hears so and may stop the work (Batch::abandoned).
void Batcher::AbandonIfAllOver(uint64_t seq) {
  for (const auto& [end, i] : busy_until_) {
    Replica& in = replicas_[static_cast<size_t>(i)];
    if (std::find(in.seqs.begin(), in.seqs.end(), seq) == in.seqs.end()) continue;
    if (in.batch.AllOver()) in.batch.abandoned.Cancel();
    return;
  }
}

void Batcher::Insert(Queued q) {
  ++per_priority_[q.priority];
  max_prior_ = std::max(max_prior_, q.est);
  queue_.insert(std::move(q));
}

Batcher::QueueIt Batcher::Erase(QueueIt it) {
  auto level = per_priority_.find(it->priority);
  if (--level->second == 0) per_priority_.erase(level);
  return queue_.erase(it);
}

LatencyEstimate Batcher::Predict(int priority, Duration prior) const {
  const TimePoint now = clock_->Now();
  size_t ahead = 0;  // items that would be served before this one
  for (const auto& [level, count] : per_priority_) {
    if (level < priority) break;
    ahead += count;
  }
  const auto max_batch = static_cast<size_t>(batching_.max_batch_size);
  const auto n = static_cast<size_t>(serving_);
  if (n == 0) return {kNever, kNever};  // no replica serves: nothing would finish

  Duration wait{0};
  // A replica whose results the sink is hearing is free in a moment.
  if (ahead >= max_batch * (free_.size() + finishing_)) {  // every replica busy, or the free ones are spoken for
    // Time until the first busy replica frees. A batch already past its
    // expected time is assumed to need that long again: it is a straggler.
    Duration first_free = Duration::max();
    for (const auto& [end, i] : busy_until_) {
      if (end > now) {
        first_free = std::min(first_free, end - now);
        break;  // the rest end later
      }
      first_free = std::min(first_free, replicas_[static_cast<size_t>(i)].expected);
    }
    if (first_free == Duration::max()) first_free = Duration(0);
    const size_t rounds = ahead / (max_batch * n);
    Duration round = Estimate(batching_.max_batch_size, prior).expected;
    if (shared_) round = std::chrono::ceil<Duration>(std::chrono::duration<double, std::micro>(round) / slowest_share_);
    wait = first_free + round * static_cast<int64_t>(rounds);
  }
  if (shared_) wait += ShareWait(now);  // the free replicas' device time is spent
  if (batching_.max_queue_delay > Duration(0) && ahead % max_batch + 1 < max_batch) {
    wait += batching_.max_queue_delay;  // it may wait for the batch to fill
  }
  // The batch it joins also takes what arrives while it waits.
  size_t joining = ahead % max_batch + 1;
  if (wait > Duration(0) && mean_gap_ > Duration(0)) joining += static_cast<size_t>(wait / mean_gap_);
  const LatencyEstimate own = Estimate(static_cast<int>(std::min(joining, max_batch)), prior);
  const Duration floor = executor_->ExpectedFloor();  // a shared remote's own word, wait included
  return {std::max(wait + own.expected, floor), std::max(wait + own.high, floor), own.guessed};
}

TimePoint Batcher::LateAt(const Queued& q) const {
  if (options_.drop_only_expired) return q.deadline + Duration(1);
  return q.deadline - Estimate(1, q.est).expected + Duration(1);
}

Batcher::QueueIt Batcher::NextLevel(QueueIt it) const {
  struct Probe {
    int priority;
    TimePoint deadline;
    uint64_t seq;
  };
  return queue_.upper_bound(Probe{it->priority, TimePoint::max(), UINT64_MAX});
}

template <typename Visit>
void Batcher::ScanNearDeadline(TimePoint by, Visit visit) {
  // No item needs more than this to finish a batch of one.
  const Duration longest =
      options_.drop_only_expired ? Duration(0) : Estimate(1, max_prior_).expected;
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (it->deadline - longest > by) {  // the rest of this level is safe
      it = NextLevel(it);
      continue;
    }
    it = visit(it);
  }
}

void Batcher::DropLate(TimePoint now) {
  ScanNearDeadline(now, [&](QueueIt it) {
    if (now < LateAt(*it)) return std::next(it);
    return DropAsLate(it);
  });
}

Batcher::QueueIt Batcher::DropAsLate(QueueIt it) {
  ReportLater(it->token, DeadlineExceeded(options_.model + ": dropped, too late to finish"));
  if (options_.stats) AddRelaxed<uint64_t>(options_.stats->late_drops, 1);
  return Erase(it);
}

// The earliest LateAt among the first (earliest-deadline) item of each
// priority level. Before service times are learned, an item further down a
// level with a larger est may turn late a little earlier; it is dropped at
// the next dispatch or cancelled by its broker at its deadline.
TimePoint Batcher::FirstLate() const {
  TimePoint first = TimePoint::max();
  for (auto it = queue_.begin(); it != queue_.end(); it = NextLevel(it)) {
    first = std::min(first, LateAt(*it));
  }
  return first;
}

size_t Batcher::BatchSize(size_t count) const {
  const auto max_batch = static_cast<size_t>(batching_.max_batch_size);
  if (count >= max_batch) return max_batch;
  const auto& preferred = options_.preferred_batch_sizes;
  for (auto it = preferred.rbegin(); it != preferred.rend(); ++it) {
    if (static_cast<size_t>(*it) <= count) return static_cast<size_t>(*it);
  }
  return count;
}

// The batch, up to the queue's size, that answers the most items in time:
// a batch of b ends at now + E(b), and those of its first b items (the
// queue's order) due before then are late; ties go to the smaller batch.
// Its late items are dropped (their tries fall back at once, rule 5) and
// the count of the rest, now first in the queue, returned. Shrinking every
// batch until its head fits, as it once did, halved a model's throughput
// under load: a last resort arrives with little time left, and the items
// behind it missed instead.
size_t Batcher::FormBatch(TimePoint now) {
  const size_t most = BatchSize(queue_.size());
  const Duration prior = queue_.begin()->est;
  if (most == 1) return 1;  // in time, or late however it runs
  if (options_.drop_only_expired) {  // a baseline drops nothing early: its batch shrinks until its head fits
    size_t b = most;
    while (b > 1 && now + Estimate(static_cast<int>(b), prior).expected > queue_.begin()->deadline) --b;
    return b;
  }
  due_.clear();  // a min-heap of the deadlines of the items not yet late
  size_t best = 1, best_in_time = 0, late = 0;
  TimePoint best_end = TimePoint::min();
  auto it = queue_.begin();
  for (size_t b = 1; b <= most; ++b, ++it) {
    due_.push_back(it->deadline);
    std::push_heap(due_.begin(), due_.end(), std::greater<>());
    const TimePoint end = now + Estimate(static_cast<int>(b), prior).expected;
    while (!due_.empty() && due_.front() < end) {  // later batches end no sooner: late for good
      std::pop_heap(due_.begin(), due_.end(), std::greater<>());
      due_.pop_back();
      ++late;
    }
    if (b - late > best_in_time) {
      best = b;
      best_in_time = b - late;
      best_end = end;
    }
  }
  if (best_in_time == 0) return 1;  // none makes it (not learned yet): the head runs
  it = queue_.begin();
  for (size_t i = 0; i < best; ++i) it = it->deadline < best_end ? DropAsLate(it) : std::next(it);
  return best_in_time;
}

bool Batcher::ShouldStart(TimePoint now, size_t count, TimePoint* recheck) const {
  if (count >= static_cast<size_t>(batching_.max_batch_size)) return true;
  if (batching_.max_queue_delay == Duration(0)) return true;
  const auto& preferred = options_.preferred_batch_sizes;
  if (!preferred.empty() && count >= static_cast<size_t>(preferred.front())) return true;
  TimePoint oldest = TimePoint::max();
  const Queued* most_urgent = nullptr;  // earliest deadline
  for (const Queued& q : queue_) {
    oldest = std::min(oldest, q.enqueued);
    if (most_urgent == nullptr || q.deadline < most_urgent->deadline) most_urgent = &q;
  }
  const TimePoint by_delay = oldest + batching_.max_queue_delay;
  // Never later than the moment the item would be dropped as late.
  const Duration service =
      std::max(Estimate(static_cast<int>(count), most_urgent->est).high,
               Estimate(1, most_urgent->est).expected);
  const TimePoint by_deadline = most_urgent->deadline - service;
  *recheck = std::min(by_delay, by_deadline);
  return *recheck <= now;
}

void Batcher::Dispatch() {
  const TimePoint now = clock_->Now();
  if (serving_ == 0) return Fail(Unavailable(options_.model + ": no replica serves (drained, removed or failed)"));
  DropLate(now);
  while (!free_.empty() && !queue_.empty()) {
    TimePoint recheck;
    if (!ShouldStart(now, queue_.size(), &recheck)) {
      ArmTimer(recheck);
      return;
    }
    TimePoint ready;
    const int free = TakeFree(now, &ready);
    if (free < 0) {  // every free replica's group has spent its share
      ArmTimer(std::min(ready, FirstLate()));
      return;
    }
    Start(free, FormBatch(now));
  }
  if (!queue_.empty()) ArmTimer(FirstLate());  // all busy: wake when the next item turns late
}

int Batcher::TakeFree(TimePoint now, TimePoint* ready) {
  *ready = TimePoint::max();
  for (size_t i = free_.size(); i-- > 0;) {  // the top of the stack first
    const int replica = free_[i];
    const Duration wait = groups_[static_cast<size_t>(replicas_[static_cast<size_t>(replica)].group)].Wait(now);
    if (wait == Duration(0)) {
      free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(i));
      return replica;
    }
    *ready = std::min(*ready, now + wait);
  }
  return -1;
}

Duration Batcher::ShareWait(TimePoint now) const {
  Duration wait = Duration::max();
  for (const int replica : free_) {
    wait = std::min(wait, groups_[static_cast<size_t>(replicas_[static_cast<size_t>(replica)].group)].Wait(now));
  }
  return free_.empty() ? Duration(0) : wait;
}

void Batcher::Fail(const Status& status) {
  for (const Queued& q : queue_) ReportLater(q.token, status);
  queue_.clear();
  per_priority_.clear();
}

void Batcher::Start(int replica, size_t count) {
  Replica& in = replicas_[static_cast<size_t>(replica)];
  in.busy = true;
  in.started = clock_->Now();
  in.batch_size = static_cast<int>(count);
  const LatencyEstimate batch_time = Estimate(in.batch_size, queue_.begin()->est);
  in.expected = batch_time.expected;
  busy_until_.emplace(in.started + in.expected, replica);
  GroupState& group = groups_[static_cast<size_t>(in.group)];
  if (group.config.share > 0) {  // charged what it is expected to take; corrected when it is done
    group.credit = group.CreditAt(in.started) - in.expected;
    group.credit_at = in.started;
  }
  in.tokens.clear();
  in.seqs.clear();
  in.enqueued.clear();
  in.batch.items.clear();
  if (stops_abandoned_work_) in.batch.abandoned.Reset();  // else never cancelled
  in.batch.deadline = queue_.begin()->deadline;  // the queue's order: the earliest of its level
  if (options_.stats) options_.stats->batch_size.Observe(static_cast<double>(count));
  for (size_t i = 0; i < count; ++i) {
    auto first = queue_.begin();
    if (options_.stats) {
      options_.stats->queue_wait.Observe(std::chrono::duration<double>(in.started - first->enqueued).count());
    }
    in.tokens.push_back(first->token);
    if (stops_abandoned_work_) in.seqs.push_back(first->seq);
    if (lag_window_ != nullptr) in.enqueued.push_back(first->enqueued);  // only the tuner pays for it
    in.batch.items.push_back(first->inputs);
    in.batch.deadline = std::min(in.batch.deadline, first->deadline);
    Erase(first);
  }
  for (const uint64_t token : in.tokens) sink_->OnItemStarted(token, in.started, batch_time);
  executor_->Run(replica, in.batch,
                 [this, replica](BatchResult result) { OnBatchDone(replica, std::move(result)); });
}

void Batcher::OnBatchDone(int replica, BatchResult result) {
  Replica& in = replicas_[static_cast<size_t>(replica)];
  // Learn the time of what ran: items skipped because their try was over
  // cost nothing, and would make the model look faster than it is.
  const size_t skipped = result.Skipped();
  const int ran = in.batch_size - static_cast<int>(skipped);
  if (ran > 0) service_times_.Observe(ran, result.service_time, clock_->Now());
  RecordBatch(replica, ran, skipped, result);
  if (GroupState& group = groups_[static_cast<size_t>(in.group)]; group.config.share > 0) {
    group.credit -= result.service_time - in.expected;
  }
  // The replica stays busy (out of free_) while the sink hears the results,
  // so a sink callback that enqueues here cannot reuse it under our feet; but
  // it is no longer expected to end later, so what Predict says meanwhile (a
  // worker's expected_now for the next request, read as it answers) counts it
  // as free, not as a straggler that needs its whole time again.
  busy_until_.erase({in.started + in.expected, replica});
  if (lag_window_ != nullptr && in.enqueued.size() == in.tokens.size()) {  // (a window set mid-batch waits)
    for (const TimePoint enqueued : in.enqueued) lag_window_->Record(clock_->Now() - enqueued);
  }
  ++finishing_;
  for (size_t i = 0; i < in.tokens.size(); ++i) {
    if (i < result.answers.size()) {
      sink_->OnItemDone(in.tokens[i], std::move(result.answers[i]));
    } else {
      sink_->OnItemDone(in.tokens[i], Internal(options_.model + ": executor returned too few answers"));
    }
  }
  --finishing_;
  in.busy = false;
  in.batch.items.clear();
  Idle(replica);
  Dispatch();
}

// A replica with no batch: back to work, or out for good if it drains.
void Batcher::Idle(int replica) {
  Replica& r = replicas_[static_cast<size_t>(replica)];
  if (r.state == ReplicaState::kServing) {
    free_.push_back(replica);
  } else if (r.state == ReplicaState::kDraining) {
    r.state = ReplicaState::kRemoved;
    (void)executor_->RemoveReplica(replica);  // idle now: an executor that could add it can remove it
  }
}

void Batcher::SetState(int replica, ReplicaState state) {
  Replica& r = replicas_[static_cast<size_t>(replica)];
  if (r.state == state || r.state == ReplicaState::kRemoved) return;
  const bool was_serving = r.state == ReplicaState::kServing;
  r.state = state;
  serving_ += (state == ReplicaState::kServing) - was_serving;
  if (was_serving && !r.busy) std::erase(free_, replica);
  if (!r.busy) Idle(replica);
  PublishReplicas();
  Dispatch();
}

// Unavailable while its executor says it failed or its device is down.
void Batcher::Refresh(int replica) {
  const Replica& r = replicas_[static_cast<size_t>(replica)];
  if (r.state == ReplicaState::kDraining || r.state == ReplicaState::kRemoved) return;  // leaving anyway
  const bool out = r.failed || !groups_[static_cast<size_t>(r.group)].up;
  SetState(replica, out ? ReplicaState::kUnavailable : ReplicaState::kServing);
}

void Batcher::OnReplicaAvailable(int replica, bool available) {
  if (replica < 0 || replica >= static_cast<int>(replicas_.size())) return;
  replicas_[static_cast<size_t>(replica)].failed = !available;
  Refresh(replica);
}

void Batcher::SetGroupUp(int group, bool up) {
  if (group < 0 || group >= static_cast<int>(groups_.size())) return;
  groups_[static_cast<size_t>(group)].up = up;
  for (size_t r = 0; r < replicas_.size(); ++r) {
    if (replicas_[r].group == group) Refresh(static_cast<int>(r));
  }
}

void Batcher::PublishReplicas() const {
  for (size_t g = 0; g < groups_.size(); ++g) {
    PlacementStats* stats = groups_[g].config.stats;
    if (stats == nullptr) continue;
    int serving = 0;
    for (const Replica& r : replicas_) serving += r.group == static_cast<int>(g) && r.state == ReplicaState::kServing;
    stats->replicas.store(serving, std::memory_order_relaxed);
  }
}

Status Batcher::SetReplicas(int count) {
  if (count < 0 || count > kMaxReplicas) {
    return InvalidArgument(options_.model + ": replicas must be in [0, " + std::to_string(kMaxReplicas) + "]");
  }
  // Replicas that count: serving, or out for now (failed, or their device down).
  int active = replicas_in(ReplicaState::kServing) + replicas_in(ReplicaState::kUnavailable);
  // Grow: fresh replicas join the last group and serve at once (with the
  // service times learned so far) unless its device is down.
  for (; active < count; ++active) {
    if (replicas_.size() >= static_cast<size_t>(kMaxReplicas)) {
      return ResourceExhausted(options_.model + ": " + std::to_string(kMaxReplicas) + " replicas ever started");
    }
    StatusOr<int> added = executor_->AddReplica();
    if (!added.ok()) return added.status();
    replicas_.resize(static_cast<size_t>(*added) + 1);
    Replica& fresh = replicas_[static_cast<size_t>(*added)];
    fresh.group = static_cast<int>(groups_.size()) - 1;
    fresh.state = ReplicaState::kUnavailable;
    Refresh(*added);
  }
  // Shrink: the newest replicas drain (a busy one finishes its batch).
  for (int r = static_cast<int>(replicas_.size()) - 1; r >= 0 && active > count; --r) {
    const ReplicaState state = replicas_[static_cast<size_t>(r)].state;
    if (state == ReplicaState::kServing || state == ReplicaState::kUnavailable) {
      SetState(r, ReplicaState::kDraining);
      --active;
    }
  }
  Dispatch();
  return OkStatus();
}

int Batcher::replicas_in(ReplicaState state) const {
  return static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(),
                                        [state](const Replica& r) { return r.state == state; }));
}

void Batcher::RecordBatch(int replica, int ran, size_t skipped, const BatchResult& result) {
  const double busy = std::chrono::duration<double>(result.service_time).count();
  PlacementStats* placed = groups_[static_cast<size_t>(replicas_[static_cast<size_t>(replica)].group)].config.stats;
  if (placed != nullptr && ran > 0) {
    AddRelaxed(placed->busy_seconds, busy);
    placed->busy.Add(clock_->Now(), 1, busy);
  }
  if (options_.stats == nullptr) return;
  ModelStats& s = *options_.stats;
  if (skipped) AddRelaxed<uint64_t>(s.skipped, skipped);
  if (ran == 0) return;  // nothing executed
  s.service_time.Observe(busy);
  s.service_fine.Observe(busy);
  AddRelaxed<uint64_t>(s.batches, 1);
  AddRelaxed<uint64_t>(s.items, static_cast<uint64_t>(ran));
  if (ran <= ModelStats::kCurveSizes) {  // one writer (the core): a plain EWMA
    std::atomic<double>& t = s.batch_ms[static_cast<size_t>(ran - 1)];
    const double ms = busy * 1000, old = t.load(std::memory_order_relaxed);
    t.store(old == 0 ? ms : 0.9 * old + 0.1 * ms, std::memory_order_relaxed);
  }
  uint64_t errors = 0;
  for (const auto& a : result.answers) errors += !a.ok();
  if (errors -= skipped) AddRelaxed(s.errors, errors);
}

void Batcher::ReportLater(uint64_t token, Status status) {
  ItemSink* sink = sink_;
  clock_->Schedule(clock_->Now(), [sink, token, status = std::move(status)]() mutable {
    sink->OnItemDone(token, std::move(status));
  });
}

void Batcher::PublishBatching() {
  if (options_.stats == nullptr) return;
  options_.stats->max_batch_size.store(batching_.max_batch_size, std::memory_order_relaxed);
  options_.stats->max_queue_delay_seconds.store(ToMillis(batching_.max_queue_delay) / 1000, std::memory_order_relaxed);
}

void Batcher::ArmTimer(TimePoint at) {
  if (timer_ != kNoTimer && timer_at_ <= at) return;  // an earlier check is armed
  clock_->Cancel(timer_);
  timer_at_ = at;
  timer_ = clock_->Schedule(at, [this] {
    timer_ = kNoTimer;
    Dispatch();
  });
}

}  // namespace tbms
