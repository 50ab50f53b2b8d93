// Arrivals: deterministic (seeded) request arrival times for open-loop load.
//
//   cv == 1  Poisson: exponential gaps with mean 1/rate.
//   cv > 1   bursty: a two-state Markov-modulated Poisson process (MMPP-2).
//   cv == 0  perfectly regular: every gap is 1/rate.
//   0 < cv < 1 is rejected (it would need a different family, e.g. Erlang).
//
// The MMPP-2. A hidden state alternates between HIGH (arrivals at rate
// r(1+a)) and LOW (rate r(1-a)); each state is left at rate w (exponential
// sojourns with the same mean 1/w in both), so half the time is spent in
// each and the long-run rate is exactly r. For this symmetric MMPP-2 the
// squared coefficient of variation of the stationary inter-arrival gap has a
// closed form (from the phase-type moments E[X^k] = k! p (-D0)^-k 1, with
// D0 = Q - diag(rates) and p the state seen at arrivals):
//
//     cv^2 - 1 = 2 a^2 / (2 w/r + 1 - a^2)
//
// One equation, two unknowns: we take a = cv / sqrt(cv^2 + 1), for which it
// solves to w = r / (2 (cv^2 - 1)). So cv = 2 gives rates 1.89r and 0.11r
// with a mean sojourn of 6 mean gaps; cv = 4 gives 1.97r and 0.03r with 30.
// Larger cv means longer, sharper bursts; as cv -> 1 the switching becomes
// infinitely fast and the process tends to Poisson. Unlike a renewal process
// (e.g. hyperexponential gaps) the gaps are positively correlated: bursts
// last many arrivals, which is what builds queues in a server. For
// 1 < cv < 1.005 the process would switch > 50 times per arrival for a CV
// within 0.5% of Poisson's, so Poisson is used.
//
// Gaps are drawn in exact (double) microseconds and the running sum is
// rounded, so gaps are whole microseconds that never drift from the exact
// timeline (at 3000 qps cv 0 they alternate 333/334 us; at 1000 qps they
// are exactly 1000 us). Determinism: the same options give the same
// sequence on every platform (mt19937_64 and our own exponential sampler,
// not std::exponential_distribution). Thread-compatible.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "tbms/common/status.h"
#include "tbms/common/time.h"

namespace tbms {

struct ArrivalOptions {
  double rate_qps = 0;  // > 0, at most kMaxArrivalRate
  double cv = 1.0;      // 0, or in [1, 1000]
  uint64_t seed = 1;
};

// OK, or INVALID_ARGUMENT naming the bad field.
Status ValidateArrivalOptions(const ArrivalOptions& options);

// The highest rate a trace may have: one arrival per microsecond.
inline constexpr double kMaxArrivalRate = 1e6;

class ArrivalGenerator {
 public:
  static StatusOr<ArrivalGenerator> Create(const ArrivalOptions& options);

  // The gap from the previous arrival (or from the start) to the next one.
  Duration Next();

  const ArrivalOptions& options() const { return options_; }
  // The MMPP's parameters (per second), for tests and documentation:
  // high/low state rates and the switching rate out of either state.
  // Poisson: high == low == rate, switch 0. Regular: all are the rate.
  double high_rate() const { return high_; }
  double low_rate() const { return low_; }
  double switch_rate() const { return switch_; }

 private:
  enum class Kind { kRegular, kPoisson, kMmpp };
  explicit ArrivalGenerator(const ArrivalOptions& options);
  double Exponential(double rate_per_us);  // a draw in microseconds
  double NextGapUs();

  ArrivalOptions options_;
  Kind kind_ = Kind::kPoisson;
  double high_ = 0, low_ = 0, switch_ = 0;  // per second
  std::mt19937_64 rng_;
  bool in_high_ = true;
  double exact_us_ = 0;   // exact time of the last arrival since the start
  int64_t emitted_us_ = 0;  // the same, rounded: the sum of gaps returned
};

// The first `count` arrival times since the start (ascending; the first is
// the first gap). Empty when the options are invalid (check them with
// ValidateArrivalOptions or ArrivalGenerator::Create first).
std::vector<Duration> Trace(const ArrivalOptions& options, size_t count);

}  // namespace tbms
