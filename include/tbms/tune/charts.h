// The tuner's plots of one model, from its curve, goal and recommendation:
//   qps_lag       lag vs QPS per replica, one curve per batch size (the talk's)
//   replicas_lag  the lowest lag reachable with each replica count
//   occupancy     per-replica occupancy by batch size, on one replica and on the fewest that carry the QPS
//   cost          device time per response by batch size
// Pure; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "tbms/report/svg_chart.h"
#include "tbms/tune/recommend.h"

namespace tbms {

struct NamedChart {
  std::string name;  // the file's stem: qps_lag, replicas_lag, occupancy, cost
  Chart chart;
};

std::vector<NamedChart> TuneCharts(const BatchCurve& curve, const TuneGoal& goal, const Recommendation& rec);

}  // namespace tbms
