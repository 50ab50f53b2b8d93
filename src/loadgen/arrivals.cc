#include "tbms/loadgen/arrivals.h"

#include <cmath>
#include <string>

namespace tbms {
namespace {

constexpr double kMaxCv = 1000;
// Below this the MMPP would switch more than 50 times per arrival.
constexpr double kMinBurstyCv = 1.005;

}  // namespace

Status ValidateArrivalOptions(const ArrivalOptions& o) {
  if (!std::isfinite(o.rate_qps) || o.rate_qps <= 0 || o.rate_qps > kMaxArrivalRate) {
    return InvalidArgument("rate must be in (0, 1000000] requests per second, got " +
                           std::to_string(o.rate_qps));
  }
  if (!std::isfinite(o.cv) || o.cv < 0 || o.cv > kMaxCv || (o.cv > 0 && o.cv < 1)) {
    return InvalidArgument("cv must be 0 (regular), 1 (Poisson) or in (1, 1000] (bursty), got " +
                           std::to_string(o.cv));
  }
  return OkStatus();
}

StatusOr<ArrivalGenerator> ArrivalGenerator::Create(const ArrivalOptions& options) {
  TBMS_RETURN_IF_ERROR(ValidateArrivalOptions(options));
  return ArrivalGenerator(options);
}

ArrivalGenerator::ArrivalGenerator(const ArrivalOptions& options)
    : options_(options), rng_(options.seed) {
  const double r = options.rate_qps, c = options.cv;
  high_ = low_ = r;
  if (c == 0) {
    kind_ = Kind::kRegular;
  } else if (c < kMinBurstyCv) {
    kind_ = Kind::kPoisson;
  } else {
    kind_ = Kind::kMmpp;
    const double a = c / std::sqrt(c * c + 1);
    high_ = r * (1 + a);
    low_ = r * (1 - a);
    switch_ = r / (2 * (c * c - 1));
    in_high_ = (rng_() & 1) == 0;  // the stationary distribution: half and half
  }
}

double ArrivalGenerator::Exponential(double rate_per_us) {
  // 53 random bits in [0, 1); -log1p(-u) is finite for u < 1.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
  return -std::log1p(-u) / rate_per_us;
}

double ArrivalGenerator::NextGapUs() {
  switch (kind_) {
    case Kind::kRegular:
      return 1e6 / options_.rate_qps;
    case Kind::kPoisson:
      return Exponential(options_.rate_qps / 1e6);
    case Kind::kMmpp:
      break;
  }
  // Competing exponentials: the next arrival in the current state, or a
  // switch first (then, by memorylessness, draw again in the other state).
  const double w = switch_ / 1e6;
  double gap = 0;
  for (;;) {
    const double rate = (in_high_ ? high_ : low_) / 1e6;
    const double to_switch = Exponential(w);
    if (rate > 0) {
      const double to_arrival = Exponential(rate);
      if (to_arrival < to_switch) return gap + to_arrival;
    }
    gap += to_switch;
    in_high_ = !in_high_;
  }
}

Duration ArrivalGenerator::Next() {
  exact_us_ += NextGapUs();
  const auto at = static_cast<int64_t>(std::llround(exact_us_));
  const Duration gap(at - emitted_us_);
  emitted_us_ = at;
  return gap;
}

std::vector<Duration> Trace(const ArrivalOptions& options, size_t count) {
  auto gen = ArrivalGenerator::Create(options);
  if (!gen.ok()) return {};
  std::vector<Duration> out;
  out.reserve(count);
  Duration t(0);
  for (size_t i = 0; i < count; ++i) {
    t += gen->Next();
    out.push_back(t);
  }
  return out;
}

}  // namespace tbms
