#include "tbms/broker/broker.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "tbms/report/stats.h"

namespace tbms {
namespace {
// A token names one member of one try: the try's id and the member's index.
constexpr int kMemberBits = 16;
constexpr uint64_t Token(uint64_t id, size_t member) { return (id << kMemberBits) | member; }
constexpr Duration kTick{1};  // "overdue" and "passed" are strict: one tick after
// With wait_past_deadline a try still gives up this long after it began, so a
// hung model cannot hold it forever.
constexpr Duration kLateAnswerBound = std::chrono::hours(1);

std::string Range(int64_t low, int64_t high) {
  return "[" + std::to_string(low) + ", " + std::to_string(high) + "]";
}

// A mix's steps must name its own members and leave exactly one result.
Status CheckSteps(const TryRequest& r, const Candidate& c) {
  if (!c.is_mix()) return c.count == 1 ? OkStatus() : InvalidArgument("a group of models needs mix steps");
  if (c.steps_first + c.steps_count > r.mix_steps.size()) return InvalidArgument("mix steps out of range");
  int depth = 0;
  for (size_t i = c.steps_first; i < static_cast<size_t>(c.steps_first + c.steps_count); ++i) {
    const MixStep& step = r.mix_steps[i];
    if (step.kind == MixStep::kMember) {
      if (step.value >= c.count) return InvalidArgument("a mix step names a member out of range");
      ++depth;
    } else {
      if (step.value < 1 || step.value > depth) return InvalidArgument("a mix step combines too many results");
      depth -= step.value - 1;
    }
  }
  return depth == 1 ? OkStatus() : InvalidArgument("mix steps must leave one result");
}
}  // namespace

// The state of one accepted try. Invariants: `in_flight` counts attempts in
// kInFlight; `held` is the best rank that succeeded (-1: none), and once set
// nothing more is launched (every later candidate ranks below it); `next` is
// the first candidate not yet launched or skipped, below `last`.
struct Broker::Pending {
  uint64_t id = 0;
  TryRequest request;
  Done done;
  TimePoint t0;
  TimePoint deadline;
  std::vector<Attempt> attempts;  // one per candidate
  std::vector<ItemId> items;      // one per member, valid while in flight
  // Mixes only (empty otherwise): each member's outcome and answer.
  enum MemberState : uint8_t { kOut, kAnswered, kFailed };
  std::vector<MemberState> member_state;
  std::vector<Answer> member_answers;
  Reason mix_failure = Reason::kError;
  int next = 0;
  int last = -1;
  int in_flight = 0;
  int held = -1;
  double top_budget_use = -1;  // TryResult::top_budget_use
  Reason last_failure = Reason::kNone;
  // An attempt was cancelled while its batch ran, before the try was over:
  // that batch is abandoned when the try ends (Finish), not at once.
  bool cancelled_running = false;
  TimerId timers[kTimerKinds] = {kNoTimer, kNoTimer, kNoTimer, kNoTimer};
  TimePoint planned[kTimerKinds];  // when each armed timer is due

  int size() const { return static_cast<int>(attempts.size()); }
  int CandidateOf(size_t member) const {
    const auto& cs = request.candidates;
    for (int c = 0; c < size(); ++c) {
      if (member >= cs[c].first && member < static_cast<size_t>(cs[c].first + cs[c].count)) return c;
    }
    return -1;
  }
};

StatusOr<std::unique_ptr<Broker>> Broker::Create(Options options, Clock* clock) {
  if (clock == nullptr) return InvalidArgument("broker needs a clock");
  if (options.guard < Duration(0) || options.grace < Duration(0)) {
    return InvalidArgument("guard and grace must be >= 0");
  }
  if (options.max_pending < 1) return InvalidArgument("max_pending must be >= 1");
  if (options.core_lag_margin < 0) return InvalidArgument("core_lag_margin must be >= 0");
  if (!(options.est_error >= 1 && options.est_error <= 100)) return InvalidArgument("est_error must be in [1, 100]");
  if (options.max_candidates < 1 || options.max_candidates > 256) {
    return InvalidArgument("max_candidates must be in [1, 256]");
  }
  return std::unique_ptr<Broker>(new Broker(options, clock));
}

Broker::Broker(Options options, Clock* clock) : options_(options), clock_(clock) {}

Broker::~Broker() {
  for (auto& [id, p] : pending_) CancelTimers(*p);
}

Broker::Pending* Broker::Find(uint64_t id) {
  auto it = pending_.find(id);
  return it == pending_.end() ? nullptr : it->second.get();
}

Broker::InFlightItem Broker::FindInFlight(uint64_t token) {
  Pending* p = Find(token >> kMemberBits);
  if (p == nullptr) return {};
  const size_t member = token & ((uint64_t{1} << kMemberBits) - 1);
  const int c = p->CandidateOf(member);
  if (c < 0 || p->attempts[static_cast<size_t>(c)].state != AttemptState::kInFlight) return {};
  return {p, member, c};
}

Status Broker::Check(const TryRequest& request) const {
  if (request.tloc <= Duration(0) || request.tloc > limits::kMaxTloc) {
    return InvalidArgument("tloc must be in (0, " + std::to_string(static_cast<int64_t>(limits::kMaxTlocMs)) + "] ms");
  }
  if (request.cross_request < 0 || request.cross_request > limits::kMaxCrossRequest) {
    return InvalidArgument("crossRequest must be in " + Range(0, limits::kMaxCrossRequest));
  }
  if (request.cross_lag < Duration(0) || request.cross_lag > limits::kMaxCrossLag) {
    return InvalidArgument("crossLag must be in " + Range(0, static_cast<int64_t>(limits::kMaxCrossLagMs)) + " ms");
  }
  if (request.priority < -limits::kMaxPriority || request.priority > limits::kMaxPriority) {
    return InvalidArgument("priority must be in " + Range(-limits::kMaxPriority, limits::kMaxPriority));
  }
  if (request.candidates.empty()) return InvalidArgument("at least one candidate is needed");
  if (request.inputs != nullptr) {  // a question a model would refuse is the caller's to fix: no attempt
    std::optional<QuestionSize> size;  // measured once, when a model has limits
    for (const Candidate& c : request.candidates) {
      for (size_t m = c.first; m < static_cast<size_t>(c.first + c.count) && m < request.members.size(); ++m) {
        const InputLimits* accepts = request.members[m].accepts;
        if (accepts == nullptr) continue;
        if (!size) size = QuestionSize::Of(request.inputs->question);
        if (Status s = accepts->Check(*size); !s.ok()) {
          return InvalidArgument(std::string(c.is_mix() ? "mix '" : "model '") + std::string(c.name) + "': " +
                                 s.message());
        }
      }
    }
  }
  if (request.candidates.size() > options_.max_candidates) {
    return InvalidArgument("at most " + std::to_string(options_.max_candidates) + " candidates");
  }
  if (request.members.size() >= (size_t{1} << kMemberBits)) return InvalidArgument("too many members");
  for (const Candidate& c : request.candidates) {
    if (c.count < 1 || c.first + c.count > request.members.size()) {
      return InvalidArgument("a candidate must name at least one model");
    }
    TBMS_RETURN_IF_ERROR(CheckSteps(request, c));
  }
  for (const Member& m : request.members) {
    if (m.queue == nullptr) return InvalidArgument("a candidate has no model");
    if (m.est < Duration(0)) return InvalidArgument("est must be >= 0");
  }
  return OkStatus();
}

Status Broker::Submit(TryRequest request, Done done) {
  TBMS_RETURN_IF_ERROR(Check(request));
  if (pending_.size() >= options_.max_pending) {
    return ResourceExhausted("too many tries in flight (" + std::to_string(options_.max_pending) + ")");
  }

  Pending& p = NewPending();
  p.t0 = clock_->Now();
  p.deadline = p.t0 + request.tloc - options_.core_lag_margin * clock_->Lag();  // Options, common/core_lag.h
  p.attempts.resize(request.candidates.size());
  p.items.resize(request.members.size());
  if (!request.mix_steps.empty()) {  // it has mixes
    p.member_state.assign(request.members.size(), Pending::kOut);
    p.member_answers.resize(request.members.size());
  }
  p.request = std::move(request);
  p.done = std::move(done);
  pending_count_.store(pending_.size(), std::memory_order_relaxed);
  // The deadline passes one tick after D, so an answer arriving exactly at D
  // still counts (as "overdue" does, it is strict).
  SetTimer(p, kDeadlineTimer, (options_.wait_past_deadline ? p.t0 + kLateAnswerBound : p.deadline) + kTick);
  Start(p);
  return OkStatus();
}

Broker::Pending& Broker::NewPending() {
  const uint64_t id = next_id_++;
  Pending* p;
  if (spare_.empty()) {
    p = pending_.emplace(id, std::make_unique<Pending>()).first->second.get();
  } else {
    PendingMap::node_type node = std::move(spare_.back());
    spare_.pop_back();
    node.key() = id;
    p = node.mapped().get();
    pending_.insert(std::move(node));
  }
  p->id = id;
  return *p;
}

void Broker::Recycle(PendingMap::node_type node) {
  constexpr size_t kMaxSpare = 1024;  // enough for a burst's worth of tries finishing together
  if (spare_.size() >= kMaxSpare) return;
  Pending& p = *node.mapped();
  auto attempts = std::move(p.attempts);
  auto items = std::move(p.items);
  attempts.clear();
  items.clear();
  p = Pending{};  // the mixes' lists go: few tries have them
  p.attempts = std::move(attempts);
  p.items = std::move(items);
  spare_.push_back(std::move(node));
}

void Broker::SetTimer(Pending& p, TimerKind kind, TimePoint at) {
  clock_->Cancel(p.timers[kind]);
  // A due time already past means "now", not "as of then" (see OnTimer).
  p.planned[kind] = std::max(at, clock_->Now());
  // Two words, trivially copyable: std::function keeps it inline, no allocation.
  const uint64_t key = (p.id << 2) | kind;
  p.timers[kind] = clock_->Schedule(at, [this, key] {
    const auto fired = static_cast<TimerKind>(key & 3);
    if (Pending* q = Find(key >> 2)) {
      q->timers[fired] = kNoTimer;
      OnTimer(*q, fired, q->planned[fired]);
    }
  });
}

void Broker::CancelTimers(Pending& p) {
  for (TimerId& t : p.timers) {
    clock_->Cancel(t);
    t = kNoTimer;
  }
}

// `planned` is the time the timer was set for; a real clock fires a little
// later, and a launch planned in time must not be lost to that lateness.
void Broker::OnTimer(Pending& p, TimerKind kind, TimePoint planned) {
  switch (kind) {
    case kLaunchTimer: LaunchNext(p, /*at_once=*/false, planned); break;
    case kDeadlineTimer: Finish(p, Reason::kDeadline); break;  // rule 6
    case kHoldTimer: CheckHeld(p); break;
    case kMixTimer: OnMixTimer(p); break;
    case kTimerKinds: break;
  }
}

LatencyEstimate Broker::Predict(const Pending& p, int c) const {
  const Candidate& cand = p.request.candidates[static_cast<size_t>(c)];
  LatencyEstimate worst;  // a group is as slow as its slowest member (rule 8)
  for (size_t m = cand.first; m < static_cast<size_t>(cand.first + cand.count); ++m) {
    const Member& member = p.request.members[m];
    const LatencyEstimate e = member.queue->Predict(p.request.priority, member.est);
    worst.expected = std::max(worst.expected, e.expected);
    worst.high = std::max(worst.high, e.high);
    worst.guessed = worst.guessed || e.guessed;
  }
  return worst;
}

bool Broker::Feasible(const Pending& p, const LatencyEstimate& e, TimePoint now) const {
  return now + e.high <= p.deadline - options_.guard;
}

// Rule 1: launch the best-ranked feasible candidate; else the cheapest if it
// can still finish before D; else answer at once with no answer.
void Broker::Start(Pending& p) {
  const TimePoint now = clock_->Now();
  const LatencyEstimate top = Predict(p, 0);
  p.top_budget_use = std::chrono::duration<double>(top.high) / std::chrono::duration<double>(p.request.tloc);
  if (options_.launch_predicted_late) {  // a baseline: no prediction, no skipping
    if (Launch(p, 0, top)) {
      ScheduleNext(p);
    } else {
      LaunchNext(p, /*at_once=*/true, now);
    }
    return;
  }
  int cheapest = -1;
  LatencyEstimate cheapest_e;
  for (int c = 0; c < p.size(); ++c) {
    const LatencyEstimate e = c == 0 ? top : Predict(p, c);
    if (Feasible(p, e, now)) {
      // With one slot, a last resort due at once takes it (it would preempt c at once).
      if (const LastResort last = FindLastResort(p, now);
          p.request.cross_request == 0 && last.candidate > c && last.start <= now) {
        if (LaunchLastResort(p, last)) {
          ScheduleNext(p);
        } else {
          LaunchNext(p, /*at_once=*/true, now);  // rule 5
        }
        return;
      }
      if (Launch(p, c, e)) {
        ScheduleNext(p);
      } else {
        LaunchNext(p, /*at_once=*/true, now);  // rule 5
      }
      return;
    }
    Skip(p, c, now);
    if (cheapest < 0 || e.expected < cheapest_e.expected) {
      cheapest = c;
      cheapest_e = e;
    }
  }
  p.next = p.size();
  if (now + cheapest_e.expected > p.deadline) {
    const bool fits_tloc = now + cheapest_e.expected <= p.t0 + p.request.tloc;
    Finish(p, fits_tloc ? Reason::kOverloaded : Reason::kInfeasible);  // only the core's lag is in the way
    return;
  }
  if (Launch(p, cheapest, cheapest_e)) {
    p.next = p.size();  // nothing ranks below a last resort
    return;
  }
  Finish(p, p.last_failure);
}

// A queue refused the attempt's member: it would be late, or its model is
// not served; either way the next candidate is due at once (rule 5).
void Broker::RecordRefusal(Pending& p, Attempt& a, StatusCode code) {
  switch (code) {
    case StatusCode::kDeadlineExceeded:
      a.state = AttemptState::kDroppedLate;
      p.last_failure = Reason::kDroppedLate;
      break;
    case StatusCode::kUnavailable:
      a.state = AttemptState::kUnavailable;
      p.last_failure = Reason::kUnavailable;
      break;
    default:
      a.state = AttemptState::kFailed;
      p.last_failure = Reason::kError;
  }
}

void Broker::Skip(Pending& p, int c, TimePoint now) {
  Attempt& a = p.attempts[static_cast<size_t>(c)];
  a.state = AttemptState::kSkipped;
  a.launched = now;  // reported as the time of the decision
}

bool Broker::Launch(Pending& p, int c, LatencyEstimate e) {
  Attempt& a = p.attempts[static_cast<size_t>(c)];
  const Candidate& cand = p.request.candidates[static_cast<size_t>(c)];
  a.state = AttemptState::kInFlight;
  a.launched = clock_->Now();
  a.latency = Duration(0);
  a.members_left = cand.count;
  a.members_answered = 0;
  a.members_started = 0;
  a.started_p95 = TimePoint::min();
  a.started_done_by = TimePoint::min();
  a.predicted = e;
  p.last = c;
  p.next = c + 1;
  ++p.in_flight;
  for (size_t m = cand.first; m < static_cast<size_t>(cand.first + cand.count); ++m) {
    const Member& member = p.request.members[m];
    StatusOr<ItemId> item = member.queue->Enqueue(
        WorkItem{Token(p.id, m), p.request.inputs, p.deadline, p.request.priority, member.est});
    if (!item.ok()) {
      for (size_t done = cand.first; done < m; ++done) {
        CancelMember(p, done);  // Enqueue may have dispatched it already
      }
      --p.in_flight;
      RecordRefusal(p, a, item.status().code());
      return false;
    }
    p.items[m] = *item;
    if (!p.member_state.empty()) p.member_state[m] = Pending::kOut;
  }
  if (cand.is_mix()) ArmMixTimer(p);
  return true;
}

// Rule 2: the next launch is due at T = min(H, S_next), not before t_a +
// crossLag, where S_next = D - P_next - guard and H is t_a + E_a (hedge
// expected) or when no attempt in flight is on track any more (at_risk).
void Broker::ScheduleNext(Pending& p) {
  clock_->Cancel(p.timers[kLaunchTimer]);
  p.timers[kLaunchTimer] = kNoTimer;
  if (p.held >= 0 || p.next >= p.size() || p.last < 0) return;
  const Attempt& a = p.attempts[static_cast<size_t>(p.last)];
  const LatencyEstimate next = Predict(p, p.next);
  const TimePoint latest_start = p.deadline - next.high - options_.guard;
  // at_risk looks again when no attempt in flight is on track any more.
  const TimePoint look = p.request.hedge == Hedge::kExpected ? a.launched + a.predicted.expected
                                                             : OnTrackUntil(p, clock_->Now());
  TimePoint due = std::min(look, latest_start);
  due = std::max(due, a.launched + p.request.cross_lag);
  // crossLag paces hedges; it never costs the last resort its start.
  if (const LastResort last = FindLastResort(p, clock_->Now()); last.candidate >= 0) due = std::min(due, last.start);
  SetTimer(p, kLaunchTimer, due);
}

// A launch is due now: launch the best-ranked feasible candidate below the
// last one launched, within the cap (rule 3). A candidate found infeasible is
// skipped; the one after it is due at its own rule-2 time, or at once when
// `at_once` (after a failure, rule 5). Feasibility is judged as of `as_of`,
// the time the launch was due.
void Broker::LaunchNext(Pending& p, bool at_once, TimePoint as_of) {
  const TimePoint now = clock_->Now();
  while (p.held < 0 && p.next < p.size()) {
    const LastResort last = FindLastResort(p, as_of);
    if (last.candidate >= 0 && as_of >= last.start) {
      if (LaunchLastResort(p, last)) {
        ScheduleNext(p);
        return;
      }
      at_once = true;  // rule 5: the enqueue failed
      continue;
    }
    const int c = p.next;
    const LatencyEstimate e = c == last.candidate ? last.predicted : Predict(p, c);
    if (!Feasible(p, e, as_of)) {  // its latest safe start has passed
      Skip(p, c, now);
      ++p.next;
      if (at_once || p.last < 0) continue;
      ScheduleNext(p);
      return;
    }
    if (const TimePoint on_track_until = p.request.hedge == Hedge::kAtRisk ? OnTrackUntil(p, as_of) : as_of;
        on_track_until > as_of) {
      // at_risk: an attempt in flight is on track; look again when it stops
      // being so, or skip c once its latest start has passed.
      TimePoint wake = std::min(p.deadline - e.high - options_.guard + kTick, on_track_until);
      if (last.candidate >= 0) wake = std::min(wake, last.start);
      SetTimer(p, kLaunchTimer, wake);
      return;
    }
    if (p.in_flight > p.request.cross_request) {  // at the cap of 1 + crossRequest
      // Rule 3 never trades the try's best bet for a launch that would answer
      // later, and after D (by their Needs).
      int keep = BestBet(p, as_of);
      if (keep >= 0 && as_of + Need(e) <= std::max(p.deadline - options_.guard,
                                                   DoneBy(p.attempts[static_cast<size_t>(keep)]))) {
        keep = -1;
      }
      const int victim = MostOverdue(p, now, keep);
      if (victim < 0) {
        // Wait for a free slot (a failure re-runs this) until the candidate's
        // latest start passes, an in-flight attempt becomes overdue, the one
        // kept stops counting, or the last resort is due.
        const TimePoint latest_start = p.deadline - e.high - options_.guard;
        TimePoint wake = std::min(latest_start + kTick, EarliestOverdue(p, p.size(), keep));
        if (keep >= 0) wake = std::min(wake, DoneBy(p.attempts[static_cast<size_t>(keep)]) + kTick);
        if (last.candidate >= 0) wake = std::min(wake, last.start);
        SetTimer(p, kLaunchTimer, wake);
        return;
      }
      CancelAttempt(p, victim, AttemptState::kOverdue);
    }
    if (Launch(p, c, e)) {
      ScheduleNext(p);
      return;
    }
    at_once = true;  // rule 5: the enqueue failed
  }
  if (p.held < 0 && p.in_flight == 0 && p.next >= p.size()) Finish(p, p.last_failure);
}

// The time an attempt may take: P once the model's times are learned; while
// they are guessed, room for the est being est_error times too small.
Duration Broker::Need(const LatencyEstimate& e) const {
  if (!e.guessed) return e.high;
  return std::max(e.high, std::chrono::duration_cast<Duration>(e.expected * options_.est_error));
}

// How long a batch with estimate `e` takes at the 95th percentile, taking
// its time as lognormal with median E and 99th percentile its Need.
Duration Broker::HedgeQuantile(const LatencyEstimate& e) const {
  constexpr double kZ95OverZ99 = 1.645 / 2.326;
  const Duration need = Need(e);
  const auto median = static_cast<double>(e.expected.count());
  const auto p99 = static_cast<double>(need.count());
  if (median <= 0 || p99 <= median) return need;
  return Duration(static_cast<Duration::rep>(median * std::pow(p99 / median, kZ95OverZ99)));
}

TimePoint Broker::DoneBy(const Attempt& a) const { return a.launched + Need(a.predicted); }

// The attempt in flight whose Need ends first, not yet passed (-1: none).
int Broker::BestBet(const Pending& p, TimePoint as_of) const {
  int bet = -1;
  for (int c = 0; c < p.size(); ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state != AttemptState::kInFlight || as_of > DoneBy(a)) continue;
    if (bet < 0 || DoneBy(a) < DoneBy(p.attempts[static_cast<size_t>(bet)])) bet = c;
  }
  return bet;
}

// Rule 3b, the guarantee behind the rules: the cheapest candidate not yet
// launched that can still answer by D (at its expected time, as rule 1) is
// the last resort, due at the latest start at which its Need still ends by
// D (at once when that has passed) — unless
// an attempt in flight, as cheap and still within its Need, is one already.
Broker::LastResort Broker::FindLastResort(const Pending& p, TimePoint as_of) const {
  LastResort last;
  Duration least = Duration::max();
  for (int c = p.next; c < p.size(); ++c) {
    const LatencyEstimate e = Predict(p, c);
    const Duration need = Need(e);
    if (as_of + e.expected <= p.deadline && need < least) {  // it can still answer by D (as rule 1)
      least = need;
      last = {c, std::max(p.deadline - options_.guard - need, p.t0), e};
    }
  }
  for (const Attempt& a : p.attempts) {
    if (a.state == AttemptState::kInFlight && Need(a.predicted) <= least && as_of <= DoneBy(a)) return {};
  }
  return last;
}

// Its latest start has come with no answer held: it launches, every
// candidate ranked above it is skipped, and at the cap the attempt least
// likely to answer by D is cancelled for it.
bool Broker::LaunchLastResort(Pending& p, const LastResort& last) {
  const TimePoint now = clock_->Now();
  while (p.next < last.candidate) Skip(p, p.next++, now);
  if (p.in_flight > p.request.cross_request) {
    const int overdue = MostOverdue(p, now);
    if (overdue >= 0) {
      CancelAttempt(p, overdue, AttemptState::kOverdue);
    } else {
      CancelAttempt(p, LeastLikelyInTime(p), AttemptState::kCancelled);
    }
  }
  return Launch(p, last.candidate, last.predicted);
}

// The in-flight attempt expected last (by its Need); a tie goes to the worse rank.
int Broker::LeastLikelyInTime(const Pending& p) const {
  int victim = -1;
  TimePoint latest = TimePoint::min();
  for (int c = 0; c < p.size(); ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state != AttemptState::kInFlight) continue;
    const TimePoint done_by = DoneBy(a);
    if (done_by >= latest) {
      latest = done_by;
      victim = c;
    }
  }
  return victim;
}

// With the at_risk hedge, the first moment no attempt in flight is on track:
// likely to answer by D (once its batch has started, by that batch's 95th
// percentile; before, by its Need) and not past its Need. At most as_of:
// none is now. A hedge pays only for an attempt likely to miss D; the last
// resort (rule 3b) still covers the tail of the others.
TimePoint Broker::OnTrackUntil(const Pending& p, TimePoint as_of) const {
  TimePoint until = as_of;
  for (int c = 0; c < p.size(); ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state != AttemptState::kInFlight) continue;
    const bool started = AllStarted(p, c);
    const TimePoint likely_by = started ? a.started_p95 : DoneBy(a);
    const TimePoint done_by = started ? a.started_done_by : DoneBy(a);
    if (likely_by <= p.deadline - options_.guard) until = std::max(until, done_by + options_.grace + kTick);
  }
  return until;
}

// Whether every member of attempt c has its batch started.
bool Broker::AllStarted(const Pending& p, int c) const {
  return p.attempts[static_cast<size_t>(c)].members_started == p.request.candidates[static_cast<size_t>(c)].count;
}

TimePoint Broker::OverdueAfter(const Attempt& a) const { return a.launched + a.predicted.high + options_.grace; }

int Broker::MostOverdue(const Pending& p, TimePoint now, int keep) const {
  int victim = -1;
  TimePoint earliest = TimePoint::max();
  for (int c = 0; c < p.size(); ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state != AttemptState::kInFlight || c == keep) continue;
    const TimePoint due = OverdueAfter(a);
    if (now > due && due < earliest) {
      earliest = due;
      victim = c;
    }
  }
  return victim;
}

// The first moment an in-flight attempt ranked above `below` (but `keep`) is overdue.
TimePoint Broker::EarliestOverdue(const Pending& p, int below, int keep) const {
  TimePoint earliest = TimePoint::max();
  for (int c = 0; c < below; ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state == AttemptState::kInFlight && c != keep) earliest = std::min(earliest, OverdueAfter(a) + kTick);
  }
  return earliest;
}

// Rule 7: queued members leave their queues; a running batch is not split,
// its result for this attempt is ignored when it arrives.
void Broker::CancelAttempt(Pending& p, int c, AttemptState state) {
  Attempt& a = p.attempts[static_cast<size_t>(c)];
  const Candidate& cand = p.request.candidates[static_cast<size_t>(c)];
  for (size_t m = cand.first; m < static_cast<size_t>(cand.first + cand.count); ++m) {
    CancelMember(p, m);
  }
  a.state = state;
  a.latency = clock_->Now() - a.launched;
  --p.in_flight;
}

// Takes member m's item out of its queue; one already running is noted, so
// that its batch is abandoned when the try ends (AbandonCancelled).
void Broker::CancelMember(Pending& p, size_t m) {
  if (!p.request.members[m].queue->Cancel(p.items[m])) p.cancelled_running = true;
}

// Now that the try is over, the batches its earlier cancellations left
// running may be abandoned (ModelQueue::Cancel): asked again of the members
// of every attempt launched and over (cancelled or overdue, a mix that
// answered or failed with members still out, a launch rolled back); what
// is no longer running is not found. In-flight ones are cancelled next.
void Broker::AbandonCancelled(Pending& p) {
  for (int c = 0; c < p.size(); ++c) {
    const AttemptState state = p.attempts[static_cast<size_t>(c)].state;
    if (state == AttemptState::kNotRun || state == AttemptState::kSkipped || state == AttemptState::kInFlight) {
      continue;
    }
    const Candidate& cand = p.request.candidates[static_cast<size_t>(c)];
    for (size_t m = cand.first; m < static_cast<size_t>(cand.first + cand.count); ++m) {
      p.request.members[m].queue->Cancel(p.items[m]);
    }
  }
}

void Broker::OnItemDone(uint64_t token, StatusOr<Answer> result) {
  const InFlightItem item = FindInFlight(token);
  if (item.pending == nullptr) return;  // the try has answered, or the attempt was cancelled (rule 7)
  Pending& p = *item.pending;
  const size_t member = item.member;
  const int c = item.candidate;
  if (p.request.candidates[static_cast<size_t>(c)].is_mix()) {
    if (!MemberDone(p, c, member, std::move(result))) return;  // the mix waits for more
    result = CombineMix(p, c);
  }
  AttemptDone(p, c, std::move(result));
}

// With the at_risk hedge, an attempt whose batch turns out likely to end
// after D puts its fallback due now, not when it would have been overdue.
void Broker::OnItemStarted(uint64_t token, TimePoint started, const LatencyEstimate& batch) {
  const InFlightItem item = FindInFlight(token);
  if (item.pending == nullptr) return;
  Pending& p = *item.pending;
  Attempt& a = p.attempts[static_cast<size_t>(item.candidate)];
  ++a.members_started;
  a.started_p95 = std::max(a.started_p95, started + HedgeQuantile(batch));
  a.started_done_by = std::max(a.started_done_by, started + Need(batch));
  const TimePoint now = clock_->Now();
  if (p.request.hedge == Hedge::kAtRisk && p.timers[kLaunchTimer] != kNoTimer && p.planned[kLaunchTimer] > now &&
      OnTrackUntil(p, now) <= now) {
    SetTimer(p, kLaunchTimer, now);
  }
}

// An attempt (a model, or a whole mix) has its outcome.
void Broker::AttemptDone(Pending& p, int c, StatusOr<Answer> result) {
  Attempt& a = p.attempts[static_cast<size_t>(c)];
  a.latency = clock_->Now() - a.launched;
  --p.in_flight;
  if (result.ok()) {
    a.state = AttemptState::kSucceeded;
    a.answer = std::move(result).value();
    if (p.held < 0 || c < p.held) p.held = c;
    clock_->Cancel(p.timers[kLaunchTimer]);
    p.timers[kLaunchTimer] = kNoTimer;
    CheckHeld(p);  // rule 4
    return;
  }
  const bool late = result.status().code() == StatusCode::kDeadlineExceeded;
  a.state = late ? AttemptState::kDroppedLate : AttemptState::kFailed;
  a.error = result.status().message();
  p.last_failure = late ? Reason::kDroppedLate : Reason::kError;
  if (p.held >= 0) {
    CheckHeld(p);  // a better-ranked attempt ended: the held answer may go now
  } else {
    LaunchNext(p, /*at_once=*/true, clock_->Now());  // rule 5: the next launch is due at once
  }
}

// Rule 8: records one member's outcome; true when the mix is complete — every
// member is back, or its expected time has passed and one has answered.
bool Broker::MemberDone(Pending& p, int c, size_t member, StatusOr<Answer> result) {
  Attempt& a = p.attempts[static_cast<size_t>(c)];
  if (p.member_state[member] != Pending::kOut) return false;
  --a.members_left;
  if (result.ok()) {
    p.member_state[member] = Pending::kAnswered;
    p.member_answers[member] = std::move(result).value();
    ++a.members_answered;
  } else {
    p.member_state[member] = Pending::kFailed;
    p.mix_failure = result.status().code() == StatusCode::kDeadlineExceeded ? Reason::kDroppedLate
                                                                             : Reason::kError;
  }
  const bool expected_time_passed = clock_->Now() >= a.launched + a.predicted.expected + options_.grace;
  return a.members_left == 0 || (expected_time_passed && a.members_answered > 0);
}

// The mix's answer from the members that answered, combined by its steps;
// members still out are cancelled (rule 7). A mix with no answer fails as its
// last member did.
StatusOr<Answer> Broker::CombineMix(Pending& p, int c) {
  const Candidate& cand = p.request.candidates[static_cast<size_t>(c)];
  for (size_t m = cand.first; m < static_cast<size_t>(cand.first + cand.count); ++m) {
    if (p.member_state[m] == Pending::kOut) {
      CancelMember(p, m);
      p.member_state[m] = Pending::kFailed;
    }
  }
  std::vector<std::optional<Answer>> stack;  // checked by CheckSteps: never underflows
  for (size_t i = cand.steps_first; i < static_cast<size_t>(cand.steps_first + cand.steps_count); ++i) {
    const MixStep& step = p.request.mix_steps[i];
    if (step.kind == MixStep::kMember) {
      const size_t m = cand.first + step.value;
      stack.push_back(p.member_state[m] == Pending::kAnswered ? std::optional(p.member_answers[m])
                                                              : std::nullopt);
      continue;
    }
    const size_t base = stack.size() - step.value;
    std::vector<const Answer*> present;
    for (size_t k = base; k < stack.size(); ++k) {
      if (stack[k]) present.push_back(&*stack[k]);
    }
    std::optional<Answer> combined;
    if (!present.empty()) {
      StatusOr<Answer> r = Aggregate(step.aggregator, present);
      if (!r.ok()) return r.status();
      combined = std::move(r).value();
    }
    stack.resize(base);
    stack.push_back(std::move(combined));
  }
  if (stack.back()) return std::move(*stack.back());
  return p.mix_failure == Reason::kDroppedLate ? Status(DeadlineExceeded("every member was late"))
                                               : Status(Unavailable("every member failed"));
}

// Wakes at the earliest expected time of a mix in flight that has not passed.
void Broker::ArmMixTimer(Pending& p) {
  const TimePoint now = clock_->Now();
  TimePoint next = TimePoint::max();
  for (int c = 0; c < p.size(); ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    const TimePoint expected = a.launched + a.predicted.expected + options_.grace;
    if (a.state == AttemptState::kInFlight && a.members_left > 0 &&
        p.request.candidates[static_cast<size_t>(c)].is_mix() && expected > now) {
      next = std::min(next, expected);
    }
  }
  if (next != TimePoint::max()) SetTimer(p, kMixTimer, next);
}

// Rule 8: a mix past its expected time answers with the members that did.
void Broker::OnMixTimer(Pending& p) {
  const TimePoint now = clock_->Now();
  for (int c = 0; c < p.size(); ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state != AttemptState::kInFlight || !p.request.candidates[static_cast<size_t>(c)].is_mix()) continue;
    if (a.members_answered > 0 && now >= a.launched + a.predicted.expected + options_.grace) {
      const uint64_t id = p.id;
      AttemptDone(p, c, CombineMix(p, c));
      if (Find(id) == nullptr) return;  // that finished the try
    }
  }
  ArmMixTimer(p);
}

// Rule 4: respond with the held answer once every better-ranked attempt still
// in flight is overdue; until then wake up when the next one becomes overdue.
void Broker::CheckHeld(Pending& p) {
  const TimePoint wake = EarliestOverdue(p, p.held);
  if (wake == TimePoint::max() || wake <= clock_->Now()) {
    Finish(p, Reason::kNone);
    return;
  }
  SetTimer(p, kHoldTimer, wake);
}

// Responds and forgets the try. With no held answer, `no_answer_reason` says why.
void Broker::Finish(Pending& p, Reason no_answer_reason) {
  CancelTimers(p);
  if (p.request.inputs != nullptr) p.request.inputs->over.Set();  // executors skip what is not yet computed
  if (p.cancelled_running) AbandonCancelled(p);
  const TimePoint now = clock_->Now();
  const bool at_deadline = no_answer_reason == Reason::kDeadline;
  for (int c = 0; c < p.size(); ++c) {
    const Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state != AttemptState::kInFlight) continue;
    // Before D, a held answer goes out past the better attempts' predictions (rule 4).
    const bool overdue = !at_deadline && c < p.held && now > OverdueAfter(a);
    CancelAttempt(p, c, overdue ? AttemptState::kOverdue : AttemptState::kCancelled);
  }
  TryResult r;
  r.elapsed = now - p.t0;
  r.top_budget_use = p.top_budget_use;
  if (p.held >= 0) {
    Attempt& best = p.attempts[static_cast<size_t>(p.held)];
    r.answer = std::move(best.answer);
    r.rank = p.held;
    r.model = p.request.candidates[static_cast<size_t>(p.held)].name;
    r.version = p.request.candidates[static_cast<size_t>(p.held)].version;
    r.downgraded = p.held > 0;
    if (r.downgraded) {
      switch (p.attempts[0].state) {
        case AttemptState::kSkipped: r.reason = Reason::kPredictedLate; break;
        case AttemptState::kFailed: r.reason = Reason::kError; break;
        case AttemptState::kDroppedLate: r.reason = Reason::kDroppedLate; break;
        case AttemptState::kUnavailable: r.reason = Reason::kUnavailable; break;
        case AttemptState::kOverdue: r.reason = Reason::kOverdue; break;
        default: r.reason = Reason::kDeadline; break;
      }
    }
  } else {
    r.reason = no_answer_reason == Reason::kNone ? Reason::kDeadline : no_answer_reason;
  }
  r.attempts.reserve(p.attempts.size());
  for (int c = 0; c < p.size(); ++c) {
    Attempt& a = p.attempts[static_cast<size_t>(c)];
    if (a.state == AttemptState::kNotRun) continue;
    const Candidate& cand = p.request.candidates[static_cast<size_t>(c)];
    r.attempts.push_back(
        AttemptReport{cand.name, cand.version, c, a.state, a.launched - p.t0, a.latency, std::move(a.error)});
  }
  if (p.request.stats != nullptr) p.request.stats->Record(r, clock_->Now());
  r.owner = std::move(p.request.owner);
  auto node = pending_.extract(p.id);
  pending_count_.store(pending_.size(), std::memory_order_relaxed);
  Done done = std::move(node.mapped()->done);
  Recycle(std::move(node));  // nothing in r points into it: names are the table's, answers moved
  done(std::move(r));
}

}  // namespace tbms
