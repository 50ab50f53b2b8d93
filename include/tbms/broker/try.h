// The vocabulary of a try: what the caller asks for, and what it gets back.
// Plain value types, thread-compatible.
#pragma once

#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <boost/container/small_vector.hpp>

#include "tbms/backends/executor.h"
#include "tbms/common/time.h"

namespace tbms {

class ModelQueue;
struct TaskStats;

// A question's size as InputLimits bounds it; measured once per try.
struct QuestionSize {
  size_t bytes = 0;
  size_t terms = 0;  // words: runs of letters and digits, as the text backends read them
  static QuestionSize Of(std::string_view question);
};

// The questions a model takes (model.toml [limits]): what bounds its work
// per item, whatever else the edge lets through. 0: no bound.
struct InputLimits {
  size_t max_question_bytes = 0;
  size_t max_terms = 0;
  // INVALID_ARGUMENT naming the bound the question passes.
  Status Check(const QuestionSize& question) const;
};

// One model a candidate runs, with the caller's estimate of its latency
// (the prior until the model's service time has been learned).
struct Member {
  ModelQueue* queue = nullptr;  // in the core's context only
  Duration est{0};
  const InputLimits* accepts = nullptr;  // its model's (the try's owner keeps it alive); null: any question
};

// How a mix combines its members' answers (rule 8): `max` keeps the answer
// with the highest score (a number, or an object's "score"); `avg` averages
// numbers, arrays of numbers element-wise, or objects of numbers key-wise;
// `vote` keeps the most common answer (ties: the best-ranked member's).
enum class Aggregator : uint8_t { kMax, kAvg, kVote };

// How a mix combines its members, as postfix steps (so a mix may contain
// a mix): a member step pushes that member's answer (or "missing"), a combine
// step pops `value` results and pushes their aggregate over those present
// ("missing" when none is). Member indexes are relative to the candidate's
// first member.
struct MixStep {
  enum Kind : uint8_t { kMember, kCombine };
  Kind kind = kMember;
  Aggregator aggregator = Aggregator::kMax;  // kCombine
  uint16_t value = 0;                        // kMember: member index; kCombine: arity
};

// A candidate is a model, or a group of models run together (a mix): a span
// of TryRequest::members, combined by a span of TryRequest::mix_steps. Its
// rank is its index in TryRequest::candidates.
struct Candidate {
  std::string_view name;     // must outlive the try (see TryRequest::owner)
  std::string_view version;  // the model version that runs it; empty for a mix
  uint16_t first = 0;
  uint16_t count = 1;
  uint16_t steps_first = 0;
  uint16_t steps_count = 0;  // 0: a single model, not a mix
  bool is_mix() const { return steps_count > 0; }
};

// When a fallback launches while better attempts are in flight (rule 2).
// at_risk: only once no attempt in flight is on track (predicted, at its
// high quantile, to answer by D, and not past it); the last resort (rule
// 3b) stays. expected: the talk's est timer, at t_a + E_a.
enum class Hedge : uint8_t { kAtRisk, kExpected };
inline constexpr std::string_view kHedgeChoices = "\"at_risk\" or \"expected\"";

// A try's candidates and members: the first few live inside the request, so
// parsing the usual try of 2-4 models allocates no list for them.
template <typename T>
using ShortList = boost::container::small_vector<T, 4>;

struct TryRequest {
  std::shared_ptr<const Inputs> inputs;
  ShortList<Member> members;
  ShortList<Candidate> candidates;  // rank order, 0 is best
  std::vector<MixStep> mix_steps;
  Duration tloc{0};
  int cross_request = 0;
  Duration cross_lag{0};
  int priority = 0;
  Hedge hedge = Hedge::kAtRisk;
  TaskStats* stats = nullptr;  // where the outcome is counted, if anywhere
  // Keeps alive what names and queues point into (the server's model table,
  // names given in the request); handed on to the TryResult.
  std::shared_ptr<const void> owner;

  // Appends a single-model candidate.
  void AddModel(std::string_view name, ModelQueue* queue, Duration est, std::string_view version = {},
                const InputLimits* accepts = nullptr);
  // Appends a flat mix of `members` (in their rank order) combined by `aggregator`.
  void AddMix(std::string_view name, std::span<const Member> mix, Aggregator aggregator);
  // Appends a mix with its own steps (members relative to its first member).
  void AddMix(std::string_view name, std::span<const Member> mix, std::span<const MixStep> steps);
};

enum class AttemptState : uint8_t {
  kNotRun,     // never considered: an answer came first
  kSkipped,    // predicted late, or could not start in time at the cap
  kInFlight,   // launched, no outcome yet
  kSucceeded,  // answered (its answer may have lost to a better one)
  kFailed,     // the backend failed
  kDroppedLate,  // its batcher dropped it: it could no longer finish in time
  kCancelled,  // cancelled: the try had its answer, or a last resort needed its slot
  kOverdue,    // cancelled before D, past its high-quantile prediction
  kUnavailable,  // not launched: the model is not served (removed from the house, unloaded, failed to load)
};

// Why a try was downgraded (answered below rank 0) or got no answer.
enum class Reason : uint8_t {
  kNone,
  kPredictedLate,  // the better candidate was predicted to miss the deadline
  kError,          // it failed
  kDroppedLate,    // its batcher dropped it as late
  kDeadline,       // it was too slow: still running at D, or cancelled for a last resort
  kOverdue,        // it was cancelled before D, past its high-quantile prediction
  kInfeasible,     // no candidate could finish in time, nothing was launched
  kUnavailable,    // its model is not served (removed, unloaded, failed to load)
  kOverloaded,     // the server itself runs late: no candidate could finish before its answer must leave
};
// Every reason but kNone, in the order reports list them.
inline constexpr Reason kReasons[] = {Reason::kPredictedLate, Reason::kError,      Reason::kDroppedLate,
                                      Reason::kDeadline,      Reason::kOverdue,    Reason::kInfeasible,
                                      Reason::kUnavailable,   Reason::kOverloaded};
inline constexpr size_t kReasonCount = std::size(kReasons) + 1;  // with kNone: an array indexed by Reason

std::string_view AttemptStateName(AttemptState state);
std::string_view HedgeName(Hedge hedge);
std::optional<Hedge> ParseHedge(std::string_view name);  // nullopt: none of kHedgeChoices
StatusOr<Aggregator> ParseAggregator(std::string_view name);

// Combines a mix's answers (JSON texts, in member rank order; at least one).
// INVALID_ARGUMENT when they cannot be combined by `aggregator`.
StatusOr<Answer> Aggregate(Aggregator aggregator, const std::vector<const Answer*>& answers);
std::string_view ReasonName(Reason reason);

struct AttemptReport {
  std::string_view model;
  std::string_view version;
  int rank = 0;
  AttemptState state = AttemptState::kNotRun;
  Duration started{0};  // launch time, from the start of the try
  Duration latency{0};  // launch to outcome (or to the end of the try)
  std::string error;    // failed or dropped late: why, as the model's executor said (empty otherwise)
};

struct TryResult {
  std::optional<Answer> answer;  // nullopt: no answer
  int rank = -1;
  std::string_view model;
  std::string_view version;
  bool downgraded = false;
  Reason reason = Reason::kNone;
  Duration elapsed{0};
  // The top candidate's predicted time when the try began (its high quantile,
  // queue wait included) over tloc: how close the best answer is to missing
  // its budget. It rises with load before any answer is downgraded (the
  // autoscaling signal, docs/fleet.md); -1: not predicted.
  double top_budget_use = -1;
  std::vector<AttemptReport> attempts;  // every candidate that was launched or skipped
  std::shared_ptr<const void> owner;    // the request's: keeps the names above alive
};

}  // namespace tbms
