// The broker's promises over thousands of seeded scenarios on a virtual
// clock: four simulated models with real service times the caller only
// guesses (est off by 0.5x to 2x), random budgets, crossRequest, crossLag
// and hedge policy, at low load (one try at a time) and under load. For
// every try: it is answered by D; no worse-ranked answer goes out when a
// better attempt had succeeded; at most 1 + crossRequest attempts are in
// flight at once; and, at low load (the safety net), when the cheapest
// model's real time is at most half of tloc, it is answered.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tbms/backends/simulated.h"
#include "tbms/batching/batcher.h"
#include "tbms/broker/broker.h"
#include "tbms/common/virtual_clock.h"

namespace tbms {
namespace {

constexpr int kScenarios = 2000;
constexpr int kTriesPerScenario = 12;  // past the service-time model's min_samples

// One scenario: models in rank order with their real and estimated times.
struct Scenario {
  std::vector<double> real_ms;
  std::vector<double> est_ms;
  double tloc_ms = 0;
  int cross_request = 0;
  double cross_lag_ms = 0;
  Hedge hedge = Hedge::kAtRisk;
};

// The cheapest model takes 2-10 ms and at most half the budget; the others
// take up to three budgets (some never answer in time); ranks are shuffled.
// `shared_error`: every est is off by the same factor (a caller who guesses
// consistently); otherwise each by its own.
Scenario Draw(uint64_t seed, bool shared_error) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](double low, double high) { return std::uniform_real_distribution<double>(low, high)(rng); };
  Scenario s;
  const double cheapest = uniform(2, 10);
  s.tloc_ms = uniform(std::max(15.0, 2 * cheapest), 60);
  s.real_ms = {cheapest, uniform(cheapest, 3 * s.tloc_ms), uniform(cheapest, 3 * s.tloc_ms),
               uniform(cheapest, 3 * s.tloc_ms)};
  std::shuffle(s.real_ms.begin(), s.real_ms.end(), rng);
  const double factor = uniform(0.5, 2);
  for (double real : s.real_ms) s.est_ms.push_back(real * (shared_error ? factor : uniform(0.5, 2)));
  s.cross_request = static_cast<int>(rng() % 3);
  s.cross_lag_ms = uniform(0, 10);
  s.hedge = rng() % 2 ? Hedge::kAtRisk : Hedge::kExpected;
  return s;
}

std::string Describe(const Scenario& s) {
  std::string out = "tloc " + std::to_string(s.tloc_ms) + " crossRequest " + std::to_string(s.cross_request) +
                     " crossLag " + std::to_string(s.cross_lag_ms) +
                    " hedge " + std::string(HedgeName(s.hedge)) + " models (real/est):";
  for (size_t i = 0; i < s.real_ms.size(); ++i) {
    out += " " + std::to_string(s.real_ms[i]) + "/" + std::to_string(s.est_ms[i]);
  }
  return out;
}

// The most attempts whose [start, start + latency) intervals overlap.
int MostInFlight(const std::vector<AttemptReport>& attempts) {
  std::vector<std::pair<Duration, int>> edges;
  for (const AttemptReport& a : attempts) {
    if (a.state == AttemptState::kSkipped || a.latency <= Duration(0)) continue;
    edges.push_back({a.started, +1});
    edges.push_back({a.started + a.latency, -1});
  }
  std::sort(edges.begin(), edges.end());  // at one instant an end (-1) sorts before a start
  int now = 0;
  int most = 0;
  for (const auto& [at, step] : edges) most = std::max(most, now += step);
  return most;
}

// The scenario's models behind one broker, on a virtual clock.
struct Rig {
  explicit Rig(const Scenario& s) : broker(std::move(Broker::Create({}, &clock)).value()) {
    for (size_t i = 0; i < s.real_ms.size(); ++i) {
      SimulatedExecutor::Options so;
      so.model = "m" + std::to_string(i);
      so.base = Millis(s.real_ms[i]);
      executors.push_back(std::move(SimulatedExecutor::Create(so, &clock)).value());
      Batcher::Options bo;
      bo.model = so.model;
      batchers.push_back(std::move(Batcher::Create(bo, &clock, executors.back().get(), broker.get())).value());
    }
  }
  TryRequest Request(const Scenario& s) const {
    TryRequest r;
    r.inputs = std::make_shared<Inputs>("q");
    for (size_t i = 0; i < batchers.size(); ++i) {
      r.AddModel(batchers[i]->model(), batchers[i].get(), Millis(s.est_ms[i]));
    }
    r.tloc = Millis(s.tloc_ms);
    r.cross_request = s.cross_request;
    r.cross_lag = Millis(s.cross_lag_ms);
    r.hedge = s.hedge;
    return r;
  }

  VirtualClock clock;
  std::unique_ptr<Broker> broker;
  std::vector<std::unique_ptr<SimulatedExecutor>> executors;
  std::vector<std::unique_ptr<Batcher>> batchers;
};

// One try's outcome, as its callback saw it.
struct Outcome {
  TimePoint t0;
  std::optional<TryResult> result;
  TimePoint answered_at;
};

// The promises every try keeps at any load; the first broken one.
std::optional<std::string> Check(const Scenario& s, const Outcome& o, int t, bool must_answer) {
  std::string at = "try " + std::to_string(t) + " (";
  if (o.result) {
    for (const AttemptReport& a : o.result->attempts) {
      at += std::to_string(a.rank) + ":" + std::string(AttemptStateName(a.state)) + "@" +
            std::to_string(ToMillis(a.started)) + "+" + std::to_string(ToMillis(a.latency)) + " ";
    }
  }
  at += "): ";
  if (!o.result) return at + "never answered";
  const TryResult& result = *o.result;
  if (o.answered_at > o.t0 + Millis(s.tloc_ms) + Duration(1)) return at + "answered after D";
  if (must_answer && !result.answer) return at + "no answer, reason " + std::string(ReasonName(result.reason));
  for (const AttemptReport& a : result.attempts) {
    if (a.state == AttemptState::kSucceeded && result.answer && a.rank < result.rank) {
      return at + "a better attempt succeeded but rank " + std::to_string(result.rank) + " answered";
    }
  }
  if (MostInFlight(result.attempts) > 1 + s.cross_request) return at + "more than 1 + crossRequest in flight";
  return std::nullopt;
}

// Runs one scenario's tries one after another; returns the first broken promise.
std::optional<std::string> Run(const Scenario& s) {
  Rig rig(s);
  const double slowest = *std::max_element(s.real_ms.begin(), s.real_ms.end());
  const Duration gap = Millis(slowest + s.tloc_ms + 1);  // the previous try's work is over
  const bool must_answer = *std::min_element(s.real_ms.begin(), s.real_ms.end()) <= s.tloc_ms / 2;
  for (int t = 0; t < kTriesPerScenario; ++t) {
    Outcome o{rig.clock.Now(), std::nullopt, {}};
    if (!rig.broker->Submit(rig.Request(s), [&](TryResult res) {
          o.result = std::move(res);
          o.answered_at = rig.clock.Now();
        }).ok()) {
      return "refused";
    }
    rig.clock.AdvanceTo(o.t0 + gap);
    if (auto broken = Check(s, o, t, must_answer)) return broken;
  }
  return std::nullopt;
}

// Under load: kLoadedTries arrive as a Poisson stream, `load` of them per
// cheapest-model time, so they queue for every model and overlap. Every
// promise but the safety net (a queue may leave no model in time) holds.
constexpr int kLoadedTries = 60;

std::optional<std::string> RunLoaded(const Scenario& s, double load, uint64_t seed) {
  Rig rig(s);
  std::mt19937_64 rng(seed);
  const double cheapest = *std::min_element(s.real_ms.begin(), s.real_ms.end());
  std::exponential_distribution<double> gap_ms(load / cheapest);
  std::vector<Outcome> outcomes(kLoadedTries);
  for (int t = 0; t < kLoadedTries; ++t) {
    rig.clock.AdvanceTo(rig.clock.Now() + Millis(gap_ms(rng)));
    Outcome& o = outcomes[static_cast<size_t>(t)];
    o.t0 = rig.clock.Now();
    if (!rig.broker->Submit(rig.Request(s), [&o, &rig](TryResult res) {
          o.result = std::move(res);
          o.answered_at = rig.clock.Now();
        }).ok()) {
      return "refused";
    }
  }
  const double slowest = *std::max_element(s.real_ms.begin(), s.real_ms.end());
  rig.clock.AdvanceTo(rig.clock.Now() + Millis(slowest + s.tloc_ms + 1));
  for (int t = 0; t < kLoadedTries; ++t) {
    if (auto broken = Check(s, outcomes[static_cast<size_t>(t)], t, /*must_answer=*/false)) return broken;
  }
  return std::nullopt;
}

void CheckScenarios(bool shared_error) {
  int broken = 0;
  for (uint64_t seed = 1; seed <= kScenarios; ++seed) {
    const Scenario s = Draw(seed, shared_error);
    if (const std::optional<std::string> what = Run(s)) {
      ADD_FAILURE() << "seed " << seed << ": " << *what << "\n  " << Describe(s);
      if (++broken == 5) return;  // enough to debug from
    }
  }
}

TEST(BrokerPropertyTest, EstsOffByOneFactorKeepEveryPromise) { CheckScenarios(/*shared_error=*/true); }

TEST(BrokerPropertyTest, EstsOffEachByItsOwnFactorKeepEveryPromise) { CheckScenarios(/*shared_error=*/false); }

// Loads of 0.5 to 4 tries per cheapest-model time, over 1,000 scenarios.
TEST(BrokerPropertyTest, UnderLoadEveryTryIsAnsweredByDAndWithinTheCap) {
  int broken = 0;
  for (uint64_t seed = 1; seed <= kScenarios / 2; ++seed) {
    const Scenario s = Draw(seed, /*shared_error=*/seed % 2 == 0);
    const double load = 0.5 * static_cast<double>(1 + seed % 8);
    if (const std::optional<std::string> what = RunLoaded(s, load, seed)) {
      ADD_FAILURE() << "seed " << seed << ", load " << load << ": " << *what << "\n  " << Describe(s);
      if (++broken == 5) return;
    }
  }
}

}  // namespace
}  // namespace tbms
