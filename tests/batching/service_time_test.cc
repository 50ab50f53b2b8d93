// Guards ServiceTimeModel, the online estimate of batch service times that
// drives batching decisions and predictions: the caller's prior stands in
// until a class has min_samples; then E is the median and P the configured
// quantile of the class's window, at the mean size of its batches; a size
// between two such points is interpolated, one past the last extrapolated
// from the last two (never falling), one before the first takes the
// first's; the window is a ring that replaces the oldest sample; cached
// quantiles are refreshed after new samples.
#include "tbms/batching/service_time.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

constexpr Duration kPrior = Millis(5);

ServiceTimeModel::Options Opts(int min_samples, int window, double quantile = 0.99) {
  ServiceTimeModel::Options o;
  o.min_samples = min_samples;
  o.window = window;
  o.quantile = quantile;
  return o;
}

void ObserveN(ServiceTimeModel& m, int batch_size, Duration d, int n) {
  for (int i = 0; i < n; ++i) m.Observe(batch_size, d);
}

::testing::AssertionResult Is(const LatencyEstimate& got, Duration expected, Duration high) {
  if (got.expected == expected && got.high == high) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "got {E=" << got.expected.count() << "us, P=" << got.high.count()
         << "us}, want {E=" << expected.count() << "us, P=" << high.count() << "us}";
}

TEST(ServiceTimeModelTest, DefaultOptions) {
  const ServiceTimeModel::Options o;
  EXPECT_EQ(o.quantile, 0.99);
  EXPECT_EQ(o.min_samples, 8);
  EXPECT_EQ(o.window, 128);
}

TEST(ServiceTimeModelTest, NoDataUsesPriorForBothEAndP) {
  ServiceTimeModel m;
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), kPrior, kPrior));
  EXPECT_TRUE(Is(m.Estimate(64, Millis(7)), Millis(7), Millis(7)));
  EXPECT_EQ(m.observations(), 0);
}

TEST(ServiceTimeModelTest, PriorUsedUntilMinSamples) {
  ServiceTimeModel m;  // min_samples 8
  ObserveN(m, 1, Millis(20), 7);
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), kPrior, kPrior));
  EXPECT_EQ(m.observations(), 7);
  m.Observe(1, Millis(20));
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(20), Millis(20)));
  EXPECT_EQ(m.observations(), 8);
}

TEST(ServiceTimeModelTest, MedianAndP99AfterSamples) {
  ServiceTimeModel m(Opts(8, 128));
  // 1..100 ms, in a scrambled order: E is the median, P the 99th percentile
  // (nearest rank on index q * (n - 1), rounded).
  for (int i = 0; i < 100; ++i) m.Observe(1, Millis((i * 37) % 100 + 1));
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(51), Millis(99)));
}

TEST(ServiceTimeModelTest, OddCountMedianIsTheMiddle) {
  ServiceTimeModel m(Opts(1, 128));
  for (int ms : {30, 10, 50, 20, 40}) m.Observe(2, Millis(ms));
  EXPECT_TRUE(Is(m.Estimate(2, kPrior), Millis(30), Millis(50)));
}

TEST(ServiceTimeModelTest, QuantileOptionSetsP) {
  ServiceTimeModel m(Opts(1, 128, /*quantile=*/0.9));
  for (int ms = 1; ms <= 11; ++ms) m.Observe(1, Millis(ms));  // index 0.9 * 10 = 9
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(6), Millis(10)));
}

TEST(ServiceTimeModelTest, SizesShareAClassWithinPowersOfTwo) {
  ServiceTimeModel m(Opts(1, 128));
  m.Observe(3, Millis(30));
  m.Observe(4, Millis(50));  // 3-4 is one class: E 50 (the upper median), P 50, at size 3.5
  m.Observe(5, Millis(60));
  m.Observe(8, Millis(80));  // 5-8: E 80, at size 6.5
  EXPECT_TRUE(Is(m.Estimate(3, kPrior), Millis(50), Millis(50)));  // before the first point
  EXPECT_TRUE(Is(m.Estimate(5, kPrior), Millis(65), Millis(65)));  // halfway from 3.5 to 6.5
  EXPECT_TRUE(Is(m.Estimate(6, kPrior), Millis(75), Millis(75)));
}

TEST(ServiceTimeModelTest, ClassWithDataIsUsedEvenIfNeighboursHaveMore) {
  ServiceTimeModel m(Opts(2, 128));
  ObserveN(m, 1, Millis(1), 2);
  ObserveN(m, 2, Millis(2), 50);
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(1), Millis(1)));
}

// The talk's a + b x n: a batch of 3, never run, is planned at its own
// time (between 2's and 4's), not at a bigger class's. Borrowing 5-8's
// slower time made the top model look late at 3 forever (found by tbms sim).
TEST(ServiceTimeModelTest, ASizeBetweenLearnedSizesIsInterpolated) {
  ServiceTimeModel m(Opts(2, 128));
  ObserveN(m, 1, Millis(35), 2);
  ObserveN(m, 2, Millis(38), 2);
  ObserveN(m, 8, Millis(56), 2);
  EXPECT_TRUE(Is(m.Estimate(3, kPrior), Millis(41), Millis(41)));
  EXPECT_TRUE(Is(m.Estimate(5, kPrior), Millis(47), Millis(47)));
  EXPECT_TRUE(Is(m.Estimate(8, kPrior), Millis(56), Millis(56)));
}

TEST(ServiceTimeModelTest, PastTheLastSizeTheLineOfTheLastTwoGoesOn) {
  ServiceTimeModel m(Opts(2, 128));
  ObserveN(m, 1, Millis(35), 2);
  ObserveN(m, 2, Millis(38), 2);
  EXPECT_TRUE(Is(m.Estimate(4, kPrior), Millis(44), Millis(44)));
  EXPECT_TRUE(Is(m.Estimate(64, kPrior), Millis(224), Millis(224)));
  // With one point only, a bigger batch takes its time: an optimist's
  // guess, corrected once the bigger batch runs.
  ServiceTimeModel one(Opts(2, 128));
  ObserveN(one, 2, Millis(38), 2);
  EXPECT_TRUE(Is(one.Estimate(8, kPrior), Millis(38), Millis(38)));
}

TEST(ServiceTimeModelTest, TheCurveNeverFalls) {
  ServiceTimeModel m(Opts(2, 128));
  ObserveN(m, 2, Millis(40), 2);
  ObserveN(m, 4, Millis(30), 2);  // noise: bigger batches measured faster
  EXPECT_TRUE(Is(m.Estimate(3, kPrior), Millis(40), Millis(40)));
  EXPECT_TRUE(Is(m.Estimate(16, kPrior), Millis(30), Millis(30)));  // past the last: at least the last
}

TEST(ServiceTimeModelTest, BeforeTheFirstSizeTheFirstsTimeStands) {
  ServiceTimeModel m(Opts(2, 128));
  ObserveN(m, 8, Millis(8), 2);
  ObserveN(m, 256, Millis(256), 2);
  EXPECT_TRUE(Is(m.Estimate(2, kPrior), Millis(8), Millis(8)));
  EXPECT_TRUE(Is(m.Estimate(4, kPrior), Millis(8), Millis(8)));
}

TEST(ServiceTimeModelTest, ClassesBelowMinSamplesAreNoPoints) {
  ServiceTimeModel m(Opts(3, 128));
  ObserveN(m, 2, Millis(2), 2);   // not enough
  ObserveN(m, 16, Millis(16), 3);  // enough, farther away
  EXPECT_TRUE(Is(m.Estimate(2, kPrior), Millis(16), Millis(16)));
}

// Regression (found by tbms sim): a single item with no data of its own must
// not borrow a larger batch's slower time, or a model predicted late from
// the start is never run and never learned.
TEST(ServiceTimeModelTest, SingleItemWithoutDataKeepsThePrior) {
  ServiceTimeModel m(Opts(2, 128));
  ObserveN(m, 8, Millis(60), 2);
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), kPrior, kPrior));
  EXPECT_TRUE(Is(m.Estimate(8, kPrior), Millis(60), Millis(60)));
  EXPECT_TRUE(Is(m.Estimate(1, Duration(0)), Millis(60), Millis(60)));  // no prior: borrow
}

TEST(ServiceTimeModelTest, WindowIsARingReplacingTheOldestSample) {
  ServiceTimeModel m(Opts(1, 4));
  for (int ms : {10, 20, 30, 40}) m.Observe(1, Millis(ms));
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(30), Millis(40)));
  m.Observe(1, Millis(1));  // replaces 10: {1, 20, 30, 40}
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(30), Millis(40)));
  m.Observe(1, Millis(2));  // replaces 20
  m.Observe(1, Millis(3));  // replaces 30: {1, 2, 3, 40}
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(3), Millis(40)));
  m.Observe(1, Millis(4));  // replaces 40: {1, 2, 3, 4}
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(3), Millis(4)));
  m.Observe(1, Millis(100));  // wraps around, replaces 1: {100, 2, 3, 4}
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(4), Millis(100)));
  EXPECT_EQ(m.observations(), 9);
}

TEST(ServiceTimeModelTest, WindowsArePerClass) {
  ServiceTimeModel m(Opts(1, 2));
  m.Observe(1, Millis(1));
  m.Observe(2, Millis(50));
  m.Observe(1, Millis(3));
  m.Observe(2, Millis(60));
  m.Observe(2, Millis(70));  // replaces 50 in class 2 only
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(3), Millis(3)));
  EXPECT_TRUE(Is(m.Estimate(2, kPrior), Millis(70), Millis(70)));
}

// Regression guard: the quantiles are cached; a new sample must invalidate them.
TEST(ServiceTimeModelTest, EstimateRefreshesAfterNewSamples) {
  ServiceTimeModel m(Opts(1, 128));
  m.Observe(1, Millis(10));
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(10), Millis(10)));
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(10), Millis(10)));  // cached
  m.Observe(1, Millis(30));
  m.Observe(1, Millis(20));
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Millis(20), Millis(30)));
}

TEST(ServiceTimeModelTest, PriorIsIgnoredOnceThereIsData) {
  ServiceTimeModel m(Opts(1, 128));
  m.Observe(1, Millis(10));
  EXPECT_TRUE(Is(m.Estimate(1, Millis(999)), Millis(10), Millis(10)));
  EXPECT_TRUE(Is(m.Estimate(1, Duration(0)), Millis(10), Millis(10)));
}

TEST(ServiceTimeModelTest, NegativeServiceTimeCountsAsZero) {
  ServiceTimeModel m(Opts(1, 128));
  m.Observe(1, Millis(-3));
  EXPECT_TRUE(Is(m.Estimate(1, kPrior), Duration(0), Duration(0)));
}

TEST(ServiceTimeModelTest, MinSamplesIsClampedToWindowAndAtLeastOne) {
  ServiceTimeModel capped(Opts(/*min_samples=*/100, /*window=*/3));
  ObserveN(capped, 1, Millis(7), 3);  // the window can never hold 100
  EXPECT_TRUE(Is(capped.Estimate(1, kPrior), Millis(7), Millis(7)));

  ServiceTimeModel zero(Opts(/*min_samples=*/0, /*window=*/4));
  EXPECT_TRUE(Is(zero.Estimate(1, kPrior), kPrior, kPrior));  // no samples: prior
  zero.Observe(1, Millis(9));
  EXPECT_TRUE(Is(zero.Estimate(1, kPrior), Millis(9), Millis(9)));

  ServiceTimeModel no_window(Opts(/*min_samples=*/1, /*window=*/0));  // window becomes 1
  no_window.Observe(1, Millis(1));
  no_window.Observe(1, Millis(2));
  EXPECT_TRUE(Is(no_window.Estimate(1, kPrior), Millis(2), Millis(2)));
}

}  // namespace
}  // namespace tbms

namespace tbms {
namespace {

// A class is a point with 2 samples, which it forgets 10 s after the newest.
ServiceTimeModel::Options TenSecondMemory() {
  ServiceTimeModel::Options o;
  o.min_samples = 2;
  o.max_age = std::chrono::seconds(10);
  return o;
}
const TimePoint kT0{std::chrono::seconds(100)};

// A model predicted late is never launched, so it would never learn that a
// burst is over: samples older than max_age are forgotten and the prior
// (the caller's est) launches it again.
TEST(ServiceTimeModelTest, StaleSamplesAreForgotten) {
  ServiceTimeModel m(TenSecondMemory());
  for (int i = 0; i < 4; ++i) m.Observe(1, Millis(40), kT0);
  EXPECT_EQ(m.Estimate(1, Millis(3), kT0 + std::chrono::seconds(10)).expected, Millis(40));
  EXPECT_EQ(m.Estimate(1, Millis(3), kT0 + std::chrono::seconds(11)).expected, Millis(3));  // stale: the prior
  EXPECT_EQ(m.Estimate(1, Millis(3)).expected, Millis(40));  // no clock: age is ignored
  // A new sample after the gap starts the class over: the old ones are gone.
  const TimePoint later = kT0 + std::chrono::seconds(20);
  m.Observe(1, Millis(2), later);
  m.Observe(1, Millis(2), later);
  EXPECT_EQ(m.Estimate(1, Millis(3), later).high, Millis(2));
}

// A [warmup]'s seeds: they do not age while their class has not run (a
// version whose first tries come late still plans on them); from the
// class's first sample of its own they count as observed then, and age.
TEST(ServiceTimeModelTest, SeedsAgeOnlyOnceTheirClassRuns) {
  ServiceTimeModel m(TenSecondMemory());
  const auto s = [](int n) { return std::chrono::seconds(n); };
  for (int i = 0; i < 2; ++i) m.Seed(1, Millis(40), kT0);
  EXPECT_EQ(m.Estimate(1, Millis(3), kT0 + s(60)).expected, Millis(40));  // not stale after 60 s unused
  EXPECT_FALSE(m.Estimate(1, Millis(3), kT0 + s(60)).guessed);
  m.Observe(1, Millis(40), kT0 + s(60));  // its first run: the seeds count as of now, and are kept
  EXPECT_EQ(m.Estimate(1, Millis(3), kT0 + s(70)).expected, Millis(40));
  EXPECT_EQ(m.Estimate(1, Millis(3), kT0 + s(71)).expected, Millis(3));  // then they age as any

  // On a class that has run, a seed is an observation like the others.
  ServiceTimeModel ran(TenSecondMemory());
  for (int i = 0; i < 2; ++i) ran.Observe(2, Millis(50), kT0);
  ran.Seed(2, Millis(50), kT0);
  EXPECT_EQ(ran.Estimate(2, Millis(3), kT0 + s(10)).expected, Millis(50));
  EXPECT_TRUE(ran.Estimate(2, Millis(3), kT0 + s(11)).guessed);
}

}  // namespace
}  // namespace tbms
