// A line chart as a standalone SVG document: the tuner's plots (QPS vs lag
// per batch size, replicas vs lag, occupancy, cost per response). Axes with
// round ticks, one colour per series, a legend, dashed reference lines and
// one highlighted point; lines are clipped to the plot area, so a curve that
// shoots up (the lag of a big batch at a low rate) leaves the top cleanly.
// Pure; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tbms {

struct ChartSeries {
  std::string name{};
  std::vector<std::pair<double, double>> points{};  // (x, y), drawn in order
};

struct ChartLine {
  double at = 0;
  std::string label;
};

struct Chart {
  std::string title{};
  std::string x_label{}, y_label{};
  std::vector<ChartSeries> series{};
  std::vector<ChartLine> h_lines{};  // y = at
  std::vector<ChartLine> v_lines{};  // x = at
  std::optional<std::pair<double, double>> highlight{};
  std::string highlight_label{};
  // Axis ranges; unset: 0 .. the largest value drawn, rounded up to a tick.
  std::optional<double> x_max{}, y_max{};
};

std::string RenderSvg(const Chart& chart);

}  // namespace tbms
