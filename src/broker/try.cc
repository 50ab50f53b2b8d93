#include "tbms/broker/try.h"

#include <cctype>

namespace tbms {

void TryRequest::AddModel(std::string_view name, ModelQueue* queue, Duration est, std::string_view version,
                          const InputLimits* accepts) {
  Candidate c;
  c.name = name;
  c.version = version;
  c.first = static_cast<uint16_t>(members.size());
  candidates.push_back(c);
  members.push_back(Member{queue, est, accepts});
}

void TryRequest::AddMix(std::string_view name, std::span<const Member> mix, Aggregator aggregator) {
  std::vector<MixStep> steps;
  steps.reserve(mix.size() + 1);
  for (size_t m = 0; m < mix.size(); ++m) {
    steps.push_back(MixStep{MixStep::kMember, aggregator, static_cast<uint16_t>(m)});
  }
  steps.push_back(MixStep{MixStep::kCombine, aggregator, static_cast<uint16_t>(mix.size())});
  AddMix(name, mix, steps);
}

void TryRequest::AddMix(std::string_view name, std::span<const Member> mix, std::span<const MixStep> steps) {
  Candidate c;
  c.name = name;
  c.first = static_cast<uint16_t>(members.size());
  c.count = static_cast<uint16_t>(mix.size());
  c.steps_first = static_cast<uint16_t>(mix_steps.size());
  c.steps_count = static_cast<uint16_t>(steps.size());
  candidates.push_back(c);
  members.insert(members.end(), mix.begin(), mix.end());
  mix_steps.insert(mix_steps.end(), steps.begin(), steps.end());
}

StatusOr<Aggregator> ParseAggregator(std::string_view name) {
  if (name == "max") return Aggregator::kMax;
  if (name == "avg") return Aggregator::kAvg;
  if (name == "vote") return Aggregator::kVote;
  return InvalidArgument("unknown aggregator '" + std::string(name) + "' (expected max, avg or vote)");
}

QuestionSize QuestionSize::Of(std::string_view question) {
  QuestionSize size{question.size(), 0};
  bool in_word = false;
  for (char c : question) {  // counted, not tokenized: no allocation
    const bool word = std::isalnum(static_cast<unsigned char>(c)) != 0;
    size.terms += word && !in_word;
    in_word = word;
  }
  return size;
}

Status InputLimits::Check(const QuestionSize& question) const {
  if (max_question_bytes > 0 && question.bytes > max_question_bytes) {
    return InvalidArgument("the question has " + std::to_string(question.bytes) + " bytes, the model takes at most " +
                           std::to_string(max_question_bytes) + " (limits.max_question_bytes in its model.toml)");
  }
  if (max_terms > 0 && question.terms > max_terms) {
    return InvalidArgument("the question has " + std::to_string(question.terms) + " words, the model takes at most " +
                           std::to_string(max_terms) + " (limits.max_terms in its model.toml)");
  }
  return OkStatus();
}

std::string_view AttemptStateName(AttemptState state) {
  switch (state) {
    case AttemptState::kNotRun: return "not_run";
    case AttemptState::kSkipped: return "skipped";
    case AttemptState::kInFlight: return "in_flight";
    case AttemptState::kSucceeded: return "succeeded";
    case AttemptState::kFailed: return "failed";
    case AttemptState::kDroppedLate: return "dropped_late";
    case AttemptState::kCancelled: return "cancelled";
    case AttemptState::kOverdue: return "overdue";
    case AttemptState::kUnavailable: return "unavailable";
  }
  return "unknown";
}

std::string_view HedgeName(Hedge hedge) { return hedge == Hedge::kExpected ? "expected" : "at_risk"; }

std::optional<Hedge> ParseHedge(std::string_view name) {
  if (name == "at_risk") return Hedge::kAtRisk;
  if (name == "expected") return Hedge::kExpected;
  return std::nullopt;
}

std::string_view ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kNone: return "";
    case Reason::kPredictedLate: return "predicted_late";
    case Reason::kError: return "error";
    case Reason::kDroppedLate: return "dropped_late";
    case Reason::kDeadline: return "deadline";
    case Reason::kOverdue: return "overdue";
    case Reason::kInfeasible: return "infeasible";
    case Reason::kUnavailable: return "unavailable";
    case Reason::kOverloaded: return "overloaded";
  }
  return "unknown";
}

}  // namespace tbms
