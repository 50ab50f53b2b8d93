// Broker: the time broker. For each try it plans launches against the
// deadline, launches the best feasible candidate, fires fallbacks on timers,
// hedges within crossRequest/crossLag, cancels what is no longer needed and
// picks the answer: rules 1-7 of section 3 of the design brief, plus a last
// resort (rule 3b) that makes the cheapest model a guarantee when the
// callers' estimates are wrong (see docs/semantics.md for the rules, what
// was revised and why, and how each is implemented).
//
// Thread-compatible: Submit, timers and batch completions must all run in one
// context (the virtual clock's thread in tests; the core's CoreRunner in the
// server). Check and pending() are safe from any thread. Performs no I/O and
// reads time only from its Clock.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "tbms/batching/model_queue.h"
#include "tbms/broker/limits.h"
#include "tbms/broker/try.h"
#include "tbms/common/clock.h"
#include "tbms/common/status.h"

namespace tbms {

class Broker final : public ItemSink {
 public:
  struct Options {
    Duration guard{0};           // safety margin subtracted from every deadline
    // An attempt is overdue only this long after t_a + P_a. A real clock fires
    // timers late by microseconds: an attempt finishing right at its
    // prediction must not be cancelled for that (the server uses its guard).
    // A mix's expected time (rule 8) gets the same allowance.
    Duration grace{0};
    size_t max_pending = 100000; // tries in flight at once
    size_t max_candidates = limits::kMaxCandidates;
    // Baseline policies (tbms serve --policy) turn the broker's rules off:
    bool launch_predicted_late = false;  // rule 1 launches the top candidate regardless
    bool wait_past_deadline = false;     // no end-to-end deadline: D only bounds queueing
    // Tries plan to finish this many times Clock::Lag before D: a core that
    // runs L late read the request about L after it came, and its answer
    // leaves about L after the core has it. 0: plan to D however late it runs.
    int core_lag_margin = 2;
    // How far a caller's est may be off (a factor; callers guess). Until a
    // model's own times are learned, the last resort starts early enough to
    // answer by D were its est this many times too small. 1 trusts the est.
    double est_error = 2.0;
  };
  // Called exactly once per accepted try, in the core's context; it may run
  // before Submit returns (a try with no feasible candidate is answered at once).
  using Done = std::function<void(TryResult)>;

  static StatusOr<std::unique_ptr<Broker>> Create(Options options, Clock* clock);
  ~Broker() override;

  // Takes the request iff the result is OK: INVALID_ARGUMENT for a malformed
  // request (as Check), RESOURCE_EXHAUSTED when max_pending tries are in flight.
  Status Submit(TryRequest request, Done done);
  // Submit's INVALID_ARGUMENT, without taking the request; reads only the
  // options, so the server checks a request before it posts it to the core.
  Status Check(const TryRequest& request) const;

  void OnItemDone(uint64_t token, StatusOr<Answer> result) override;
  void OnItemStarted(uint64_t token, TimePoint started, const LatencyEstimate& batch) override;

  // Tries in flight, as of the last Submit or answer (any thread).
  size_t pending() const { return pending_count_.load(std::memory_order_relaxed); }
  const Options& options() const { return options_; }

 private:
  struct Attempt {
    AttemptState state = AttemptState::kNotRun;
    TimePoint launched;
    LatencyEstimate predicted;  // at launch
    Duration latency{0};
    Answer answer;
    std::string error;  // a failed attempt's: what its executor said
    // Mixes (rule 8): members still out, members that answered.
    int members_left = 0;
    int members_answered = 0;
    // Members whose batch has started, and the latest end of their batches,
    // at the 95th percentile and by their Needs: once all have started,
    // when the attempt should answer.
    int members_started = 0;
    TimePoint started_p95;
    TimePoint started_done_by;
  };
  struct Pending;
  enum TimerKind { kLaunchTimer, kDeadlineTimer, kHoldTimer, kMixTimer, kTimerKinds };

  // The guarantee: the cheapest feasible candidate not yet launched, and the
  // latest time it can start and still answer by D.
  struct LastResort {
    int candidate = -1;  // none
    TimePoint start;
    LatencyEstimate predicted;
  };

  // An item's try and the attempt it belongs to, while that attempt is in
  // flight (pending null otherwise).
  struct InFlightItem {
    Pending* pending = nullptr;
    size_t member = 0;
    int candidate = -1;
  };
  InFlightItem FindInFlight(uint64_t token);

  Broker(Options options, Clock* clock);
  void Start(Pending& p);
  LatencyEstimate Predict(const Pending& p, int c) const;
  bool Feasible(const Pending& p, const LatencyEstimate& e, TimePoint now) const;
  static void RecordRefusal(Pending& p, Attempt& a, StatusCode code);
  void Skip(Pending& p, int c, TimePoint now);
  bool Launch(Pending& p, int c, LatencyEstimate e);
  void ScheduleNext(Pending& p);
  void LaunchNext(Pending& p, bool at_once, TimePoint as_of);
  Duration Need(const LatencyEstimate& e) const;
  TimePoint DoneBy(const Attempt& a) const;
  int BestBet(const Pending& p, TimePoint as_of) const;
  LastResort FindLastResort(const Pending& p, TimePoint as_of) const;
  bool LaunchLastResort(Pending& p, const LastResort& last);
  TimePoint OverdueAfter(const Attempt& a) const;
  TimePoint OnTrackUntil(const Pending& p, TimePoint as_of) const;
  bool AllStarted(const Pending& p, int c) const;
  Duration HedgeQuantile(const LatencyEstimate& e) const;
  int MostOverdue(const Pending& p, TimePoint now, int keep = -1) const;
  int LeastLikelyInTime(const Pending& p) const;
  TimePoint EarliestOverdue(const Pending& p, int below, int keep = -1) const;
  void CancelAttempt(Pending& p, int c, AttemptState state);
  void CancelMember(Pending& p, size_t m);
  void AbandonCancelled(Pending& p);
  void CheckHeld(Pending& p);
  void AttemptDone(Pending& p, int c, StatusOr<Answer> result);
  bool MemberDone(Pending& p, int c, size_t member, StatusOr<Answer> result);
  StatusOr<Answer> CombineMix(Pending& p, int c);
  void ArmMixTimer(Pending& p);
  void OnMixTimer(Pending& p);
  void Finish(Pending& p, Reason no_answer_reason);
  Pending* Find(uint64_t id);
  void SetTimer(Pending& p, TimerKind kind, TimePoint at);
  void CancelTimers(Pending& p);
  void OnTimer(Pending& p, TimerKind kind, TimePoint planned);

  // Constant after construction.
  const Options options_;
  Clock* const clock_;

  using PendingMap = std::unordered_map<uint64_t, std::unique_ptr<Pending>>;
  Pending& NewPending();
  void Recycle(PendingMap::node_type node);

  PendingMap pending_;
  std::atomic<size_t> pending_count_{0};  // pending_.size(), for readers off the core
  // Finished tries' records with their map nodes, cleared but keeping their
  // lists' room: once warm, a try costs the broker no allocation of its own.
  std::vector<PendingMap::node_type> spare_;
  uint64_t next_id_ = 1;
};

}  // namespace tbms
