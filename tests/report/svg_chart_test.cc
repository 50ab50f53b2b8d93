// The SVG line chart: a document with one path per series, round axis
// ticks, escaped text, reference lines inside the range only.
#include "tbms/report/svg_chart.h"

#include <gtest/gtest.h>

namespace tbms {
namespace {

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(RenderSvg, DrawsEverySeriesWithItsLegend) {
  Chart c{.title = "lag <by> batch & size", .x_label = "QPS", .y_label = "ms"};
  c.series = {{"batch 1", {{0, 10}, {50, 12}}}, {"batch 2", {{0, 20}, {93, 37}}}};
  const std::string svg = RenderSvg(c);
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<path "), 2u);
  EXPECT_NE(svg.find(">batch 2</text>"), std::string::npos);
  EXPECT_NE(svg.find("lag &lt;by&gt; batch &amp; size"), std::string::npos);
  // Axes end on a round tick above the largest value: 93 -> 100, 37 -> 40.
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);
  EXPECT_NE(svg.find(">40</text>"), std::string::npos);
  EXPECT_EQ(svg.find(">120</text>"), std::string::npos);
}

TEST(RenderSvg, ClipsToAGivenRangeAndDropsLinesOutsideIt) {
  Chart c{.title = "t", .x_label = "x", .y_label = "y"};
  c.series = {{"s", {{1, 1}, {2, 1000}}}};
  c.y_max = 50;
  c.h_lines = {{30, "goal"}, {80, "off the chart"}};
  c.highlight = {{1, 1}};
  c.highlight_label = "here";
  const std::string svg = RenderSvg(c);
  EXPECT_NE(svg.find("clip-path=\"url(#plot)\""), std::string::npos);
  EXPECT_NE(svg.find(">goal</text>"), std::string::npos);
  EXPECT_EQ(svg.find("off the chart"), std::string::npos);
  EXPECT_NE(svg.find(">here</text>"), std::string::npos);
  EXPECT_NE(svg.find(">50</text>"), std::string::npos);
}

TEST(RenderSvg, AnEmptyChartStillRenders) {
  const std::string svg = RenderSvg(Chart{.title = "nothing"});
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(Count(svg, "<path "), 0u);
}

}  // namespace
}  // namespace tbms
