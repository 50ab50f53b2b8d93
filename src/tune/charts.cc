#include "tbms/tune/charts.h"

#include <algorithm>

namespace tbms {
namespace {

std::string Ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f ms", v);
  return buf;
}

// The batch sizes drawn as curves: 1, 2, 4, 8, ... and the recommended one,
// so a curve of 64 sizes stays readable.
std::vector<int> DrawnSizes(int max_batch, int recommended) {
  std::vector<int> sizes;
  for (int b = 1; b <= max_batch; b *= 2) sizes.push_back(b);
  if (sizes.back() != max_batch) sizes.push_back(max_batch);
  if (std::find(sizes.begin(), sizes.end(), recommended) == sizes.end()) sizes.push_back(recommended);
  std::sort(sizes.begin(), sizes.end());
  return sizes;
}

Chart QpsLag(const BatchCurve& curve, const TuneGoal& goal, const Recommendation& rec) {
  Chart c{.title = curve.model + ": lag vs QPS per replica, by batch size",
          .x_label = "QPS per replica",
          .y_label = "predicted lag (ms)"};
  constexpr int kPoints = 48;
  for (int b : DrawnSizes(curve.max_batch(), rec.best.batch_size)) {
    ChartSeries s{.name = "batch " + std::to_string(b)};
    const double top = Evaluate(curve, b, 1, goal).qps_max;  // occupancy 1
    for (int i = 1; i <= kPoints; ++i) {
      const TuneGoal at{.qps = top * i / kPoints};
      s.points.emplace_back(at.qps, Evaluate(curve, b, 1, at).lag_ms);
    }
    c.series.push_back(std::move(s));
  }
  c.h_lines.push_back({goal.lag_ms, "lag goal " + Ms(goal.lag_ms)});
  const double per_replica = goal.qps / rec.best.replicas;
  c.v_lines.push_back({per_replica, rec.best.replicas == 1 ? "QPS goal" : "QPS goal / " +
                                                                            std::to_string(rec.best.replicas)});
  c.highlight = {per_replica, rec.best.lag_ms};
  c.highlight_label = "batch " + std::to_string(rec.best.batch_size);
  c.y_max = goal.lag_ms * 2.5;
  return c;
}

Chart ReplicasLag(const BatchCurve& curve, const TuneGoal& goal, const Recommendation& rec) {
  Chart c{.title = curve.model + ": lowest lag by replica count at " + std::to_string(int(goal.qps)) + " QPS",
          .x_label = "replicas",
          .y_label = "predicted lag (ms)"};
  ChartSeries s{.name = "lowest lag"};
  const int shown = std::min<int>(rec.lag_by_replicas.size(), std::max(8, rec.best.replicas * 2));
  for (int r = 1; r <= shown; ++r) {
    if (rec.lag_by_replicas[r - 1] > 0) s.points.emplace_back(r, rec.lag_by_replicas[r - 1]);
  }
  c.series.push_back(std::move(s));
  c.h_lines.push_back({goal.lag_ms, "lag goal " + Ms(goal.lag_ms)});
  c.highlight = {rec.best.replicas, rec.best.lag_ms};
  c.highlight_label = std::to_string(rec.best.replicas) + " x batch " + std::to_string(rec.best.batch_size);
  return c;
}

Chart Occupancy(const BatchCurve& curve, const TuneGoal& goal, const Recommendation& rec) {
  Chart c{.title = curve.model + ": occupancy per replica at " + std::to_string(int(goal.qps)) + " QPS",
          .x_label = "batch size",
          .y_label = "occupancy (busy share)"};
  ChartSeries one{.name = "1 replica"}, fewest{.name = "fewest replicas"};
  for (const OperatingPoint& p : rec.one_replica) one.points.emplace_back(p.batch_size, std::min(p.occupancy, 2.0));
  for (const OperatingPoint& p : rec.fewest_replicas) fewest.points.emplace_back(p.batch_size, p.occupancy);
  c.series = {std::move(one), std::move(fewest)};
  c.h_lines.push_back({goal.max_occupancy, "max occupancy"});
  c.highlight = {rec.best.batch_size, rec.best.occupancy};
  c.highlight_label = std::to_string(rec.best.replicas) + " replica" + (rec.best.replicas == 1 ? "" : "s");
  c.y_max = 1.5;
  return c;
}

Chart Cost(const BatchCurve& curve, const Recommendation& rec) {
  Chart c{.title = curve.model + ": device time per response",
          .x_label = "batch size",
          .y_label = "ms of device time per response"};
  ChartSeries s{.name = "T_b / b"};
  for (const OperatingPoint& p : rec.one_replica) s.points.emplace_back(p.batch_size, p.cost_ms);
  c.series.push_back(std::move(s));
  c.highlight = {rec.best.batch_size, rec.best.cost_ms};
  c.highlight_label = "batch " + std::to_string(rec.best.batch_size);
  return c;
}

}  // namespace

std::vector<NamedChart> TuneCharts(const BatchCurve& curve, const TuneGoal& goal, const Recommendation& rec) {
  return {{"qps_lag", QpsLag(curve, goal, rec)},
          {"replicas_lag", ReplicasLag(curve, goal, rec)},
          {"occupancy", Occupancy(curve, goal, rec)},
          {"cost", Cost(curve, rec)}};
}

}  // namespace tbms
