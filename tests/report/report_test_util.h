// Builders shared by the report channel's tests: hand-made try results and
// candidate lists, so each test states only the outcome it counts.
#pragma once

#include <string_view>
#include <vector>

#include "tbms/broker/try.h"

namespace tbms::report_test {

inline TimePoint AtSeconds(double s) { return TimePoint(Millis(s * 1000)); }

// A try with these candidate names (no batchers: only the names are counted).
inline TryRequest Names(std::vector<std::string_view> names) {
  TryRequest r;
  for (std::string_view n : names) r.AddModel(n, nullptr, Millis(1));
  return r;
}

inline AttemptReport Att(std::string_view model, int rank, AttemptState state) {
  AttemptReport a;
  a.model = model;
  a.rank = rank;
  a.state = state;
  return a;
}

inline TryResult Answered(int rank, std::string_view model, Reason reason, double elapsed_ms,
                          std::vector<AttemptReport> attempts = {}) {
  TryResult r;
  r.answer = "\"an answer\"";
  r.rank = rank;
  r.model = model;
  r.downgraded = rank > 0;
  r.reason = reason;
  r.elapsed = Millis(elapsed_ms);
  r.attempts = std::move(attempts);
  return r;
}

inline TryResult NoAnswer(Reason reason, double elapsed_ms, std::vector<AttemptReport> attempts = {}) {
  TryResult r;
  r.reason = reason;
  r.elapsed = Millis(elapsed_ms);
  r.attempts = std::move(attempts);
  return r;
}

}  // namespace tbms::report_test
