#include "tbms/tune/recommend.h"

#include <algorithm>
#include <cmath>

#include "tbms/batching/batcher.h"

namespace tbms {
namespace {

// Rounding slack: a point exactly at the goal meets it.
constexpr double kSlack = 1e-9;

// The fewest replicas on which batch size b carries the goal's QPS.
int ReplicasToCarry(const BatchCurve& curve, int b, const TuneGoal& goal) {
  const double per_replica = b * 1000.0 / curve.at(b) * goal.max_occupancy;
  const double needed = std::ceil(goal.qps / per_replica - kSlack);
  return static_cast<int>(std::clamp(needed, 1.0, double(goal.max_replicas)));
}

bool FewerThenFaster(const OperatingPoint& a, const OperatingPoint& b) {
  if (a.replicas != b.replicas) return a.replicas < b.replicas;
  return a.lag_ms < b.lag_ms;
}

OperatingPoint Fallback(const std::vector<OperatingPoint>& points) {
  auto carries = [](const OperatingPoint& p) { return p.meets_qps; };
  if (std::any_of(points.begin(), points.end(), carries)) {
    OperatingPoint best;
    best.lag_ms = INFINITY;
    for (const OperatingPoint& p : points) {
      if (p.meets_qps && p.lag_ms < best.lag_ms) best = p;
    }
    return best;
  }
  return *std::min_element(points.begin(), points.end(),
                           [](const OperatingPoint& a, const OperatingPoint& b) { return a.occupancy < b.occupancy; });
}

}  // namespace

Status ValidateTuneGoal(const TuneGoal& goal) {
  if (!(goal.qps > 0 && goal.qps <= 1e7)) return InvalidArgument("qps must be in (0, 1e7]");
  if (!(goal.lag_ms > 0 && goal.lag_ms <= 3.6e6)) return InvalidArgument("lag must be in (0, 3600000] ms");
  if (!(goal.max_occupancy > 0 && goal.max_occupancy <= 1)) {
    return InvalidArgument("max occupancy must be in (0, 1]");
  }
  if (goal.max_replicas < 1 || goal.max_replicas > Batcher::kMaxReplicas) {
    return InvalidArgument("max replicas must be in [1, " + std::to_string(Batcher::kMaxReplicas) + "]");
  }
  return OkStatus();
}

OperatingPoint Evaluate(const BatchCurve& curve, int batch_size, int replicas, const TuneGoal& goal) {
  OperatingPoint p;
  p.batch_size = batch_size;
  p.replicas = replicas;
  p.batch_ms = curve.at(batch_size);
  p.qps_max = batch_size * 1000.0 / p.batch_ms;
  const double gap_ms = 1000.0 * replicas / goal.qps;  // between arrivals at one replica
  p.queue_delay_ms = gap_ms * (batch_size - 1);
  p.lag_ms = p.batch_ms + gap_ms * (batch_size - 1) / 2;
  p.occupancy = goal.qps / replicas / p.qps_max;
  p.cost_ms = p.batch_ms / batch_size;
  p.meets_qps = p.occupancy <= goal.max_occupancy + kSlack;
  p.meets_lag = p.lag_ms <= goal.lag_ms + kSlack;
  return p;
}

Recommendation Recommend(const BatchCurve& curve, const TuneGoal& goal) {
  Recommendation r;
  for (int b = 1; b <= curve.max_batch(); ++b) {
    r.one_replica.push_back(Evaluate(curve, b, 1, goal));
    // More replicas than needed only lengthen the wait for a batch to fill,
    // so each batch size's best point is at the fewest that carry the QPS.
    r.fewest_replicas.push_back(Evaluate(curve, b, ReplicasToCarry(curve, b, goal), goal));
  }
  for (const OperatingPoint& p : r.fewest_replicas) {
    if (p.meets() && (!r.met || FewerThenFaster(p, r.best))) {
      r.best = p;
      r.met = true;
    }
  }
  if (!r.met) r.best = Fallback(r.fewest_replicas);
  r.needs_more_replicas = r.met && r.best.replicas > 1;
  for (int replicas = 1; replicas <= goal.max_replicas; ++replicas) {
    double lowest = 0;
    for (int b = 1; b <= curve.max_batch(); ++b) {
      const OperatingPoint p = Evaluate(curve, b, replicas, goal);
      if (p.meets_qps && (lowest == 0 || p.lag_ms < lowest)) lowest = p.lag_ms;
    }
    r.lag_by_replicas.push_back(lowest);
  }
  return r;
}

}  // namespace tbms
