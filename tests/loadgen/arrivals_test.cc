// Arrivals: the Poisson generator's mean rate and CV over a million gaps, the
// MMPP-2's mean rate and CV for cv 2 and 4 (and its documented parameters),
// exact regular gaps for cv 0, rejected options, determinism for a seed, and
// a trace that agrees with the generator.
#include "tbms/loadgen/arrivals.h"

#include <gtest/gtest.h>

#include <cmath>

namespace tbms {
namespace {

struct GapStats {
  double mean_us = 0;
  double cv = 0;
};

GapStats Measure(const ArrivalOptions& options, int n) {
  auto gen = ArrivalGenerator::Create(options);
  EXPECT_TRUE(gen.ok()) << gen.status().ToString();
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < n; ++i) {
    const double g = static_cast<double>(gen->Next().count());
    sum += g;
    sum_sq += g * g;
  }
  const double mean = sum / n;
  const double var = sum_sq / n - mean * mean;
  return {mean, std::sqrt(var) / mean};
}

TEST(ArrivalsTest, PoissonMeanRateAndCv) {
  const GapStats s = Measure({.rate_qps = 1000, .cv = 1, .seed = 7}, 1'000'000);
  const double rate = 1e6 / s.mean_us;
  EXPECT_NEAR(rate, 1000, 10) << "mean rate within 1%";
  EXPECT_NEAR(s.cv, 1.0, 0.02) << "CV within 2%";
}

TEST(ArrivalsTest, PoissonAtHighRateKeepsTheMeanDespiteWholeMicroseconds) {
  // Gaps of ~5 us: rounding each gap would bias the rate; the running sum does not.
  const GapStats s = Measure({.rate_qps = 200000, .cv = 1, .seed = 3}, 1'000'000);
  EXPECT_NEAR(1e6 / s.mean_us, 200000, 2000);
}

TEST(ArrivalsTest, MmppParametersFollowTheDocumentedConstruction) {
  auto gen = ArrivalGenerator::Create({.rate_qps = 100, .cv = 2});
  ASSERT_TRUE(gen.ok());
  const double a = 2 / std::sqrt(5.0);
  EXPECT_NEAR(gen->high_rate(), 100 * (1 + a), 1e-9);
  EXPECT_NEAR(gen->low_rate(), 100 * (1 - a), 1e-9);
  EXPECT_NEAR(gen->switch_rate(), 100.0 / 6, 1e-9);
  // The closed form: cv^2 - 1 = 2 a^2 / (2 w / r + 1 - a^2).
  const double w = gen->switch_rate() / 100;
  EXPECT_NEAR(2 * a * a / (2 * w + 1 - a * a), 3.0, 1e-9);
}

class MmppTest : public testing::TestWithParam<double> {};

TEST_P(MmppTest, MeanRateAndCv) {
  const double cv = GetParam();
  const GapStats s = Measure({.rate_qps = 500, .cv = cv, .seed = 11}, 1'000'000);
  EXPECT_NEAR(1e6 / s.mean_us, 500, 500 * 0.02) << "mean rate within 2%";
  EXPECT_NEAR(s.cv, cv, cv * 0.10) << "CV within 10%";
}

INSTANTIATE_TEST_SUITE_P(Cv, MmppTest, testing::Values(1.5, 2.0, 4.0));

TEST(ArrivalsTest, MmppGapsAreCorrelated) {
  // Bursts: a short gap tends to follow a short gap (lag-1 correlation > 0),
  // unlike Poisson (about 0).
  auto lag1 = [](double cv) {
    auto gen = ArrivalGenerator::Create({.rate_qps = 1000, .cv = cv, .seed = 5});
    std::vector<double> g(200000);
    for (double& x : g) x = static_cast<double>(gen->Next().count());
    double mean = 0;
    for (double x : g) mean += x;
    mean /= static_cast<double>(g.size());
    double num = 0, den = 0;
    for (size_t i = 0; i + 1 < g.size(); ++i) num += (g[i] - mean) * (g[i + 1] - mean);
    for (double x : g) den += (x - mean) * (x - mean);
    return num / den;
  };
  EXPECT_NEAR(lag1(1), 0, 0.01);
  EXPECT_GT(lag1(2), 0.05);
}

TEST(ArrivalsTest, CvZeroIsExactlyRegular) {
  auto gen = ArrivalGenerator::Create({.rate_qps = 1000, .cv = 0});
  ASSERT_TRUE(gen.ok());
  for (int i = 0; i < 10000; ++i) ASSERT_EQ(gen->Next(), Duration(1000));
  // A rate that is not a whole number of microseconds: gaps of 333 and 334
  // that never drift.
  const std::vector<Duration> t = Trace({.rate_qps = 3000, .cv = 0}, 3000);
  ASSERT_EQ(t.size(), 3000u);
  EXPECT_EQ(t[2], Duration(1000));
  EXPECT_EQ(t.back(), Duration(1'000'000));
  for (size_t i = 1; i < t.size(); ++i) {
    const auto gap = (t[i] - t[i - 1]).count();
    ASSERT_TRUE(gap == 333 || gap == 334) << gap;
  }
}

TEST(ArrivalsTest, BadOptionsAreRejected) {
  const ArrivalOptions bad[] = {
      {.rate_qps = 0},          {.rate_qps = -1},          {.rate_qps = NAN},
      {.rate_qps = INFINITY},   {.rate_qps = 2e6},         {.rate_qps = 10, .cv = 0.5},
      {.rate_qps = 10, .cv = -1}, {.rate_qps = 10, .cv = NAN}, {.rate_qps = 10, .cv = 1e6},
  };
  for (const ArrivalOptions& o : bad) {
    auto gen = ArrivalGenerator::Create(o);
    EXPECT_FALSE(gen.ok()) << o.rate_qps << " " << o.cv;
    if (!gen.ok()) {
      EXPECT_EQ(gen.status().code(), StatusCode::kInvalidArgument);
    }
    EXPECT_TRUE(Trace(o, 10).empty());
  }
  auto msg = ArrivalGenerator::Create({.rate_qps = 10, .cv = 0.5});
  EXPECT_NE(msg.status().message().find("cv"), std::string::npos);
  EXPECT_TRUE(ArrivalGenerator::Create({.rate_qps = 1e6, .cv = 0}).ok());
  EXPECT_TRUE(ArrivalGenerator::Create({.rate_qps = 0.001, .cv = 1000}).ok());
}

TEST(ArrivalsTest, DeterministicForASeed) {
  for (double cv : {0.0, 1.0, 3.0}) {
    const auto a = Trace({.rate_qps = 250, .cv = cv, .seed = 42}, 5000);
    const auto b = Trace({.rate_qps = 250, .cv = cv, .seed = 42}, 5000);
    EXPECT_EQ(a, b);
    if (cv > 0) {
      EXPECT_NE(a, Trace({.rate_qps = 250, .cv = cv, .seed = 43}, 5000));
    }
  }
  // Pinned values: the sequence must not change across platforms or releases
  // (a simulator run or an offline bound is reproduced from its seed).
  using D = std::vector<Duration>;
  EXPECT_EQ(Trace({.rate_qps = 1000, .cv = 1, .seed = 1}, 3), (D{Duration(144), Duration(290), Duration(890)}));
  EXPECT_EQ(Trace({.rate_qps = 1000, .cv = 3, .seed = 1}, 3), (D{Duration(308), Duration(530), Duration(856)}));
}

TEST(ArrivalsTest, TraceIsTheRunningSumOfGaps) {
  const ArrivalOptions o{.rate_qps = 800, .cv = 2.5, .seed = 9};
  auto gen = ArrivalGenerator::Create(o);
  const auto trace = Trace(o, 1000);
  Duration t(0);
  for (size_t i = 0; i < trace.size(); ++i) {
    const Duration gap = gen->Next();
    ASSERT_GE(gap.count(), 0);
    t += gap;
    ASSERT_EQ(trace[i], t);
  }
}

}  // namespace
}  // namespace tbms
