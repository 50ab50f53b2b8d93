#include "tbms/report/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tbms {
namespace {

constexpr double kWidth = 760, kHeight = 460;
constexpr double kLeft = 70, kRight = 190, kTop = 44, kBottom = 56;  // margins: the legend is on the right
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string Escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A tick step of 1, 2 or 5 x 10^k giving about five ticks up to `max`.
double TickStep(double max) {
  const double raw = max / 5;
  const double decade = std::pow(10, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * decade >= raw) return m * decade;
  }
  return 10 * decade;
}

// 0 .. `max` rounded up to a whole tick (1 when nothing is drawn).
double AxisMax(double max) {
  if (!(max > 0) || !std::isfinite(max)) return 1;
  const double step = TickStep(max);
  return std::ceil(max / step - 1e-9) * step;
}

class Canvas {
 public:
  Canvas(double x_max, double y_max) : x_max_(x_max), y_max_(y_max) {}
  double X(double x) const { return kLeft + x / x_max_ * (kWidth - kLeft - kRight); }
  double Y(double y) const { return kHeight - kBottom - y / y_max_ * (kHeight - kTop - kBottom); }
  double x_max() const { return x_max_; }
  double y_max() const { return y_max_; }

 private:
  double x_max_, y_max_;
};

void Text(std::string& svg, double x, double y, const std::string& text, const char* anchor = "middle",
          const char* extra = "") {
  svg += "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" text-anchor=\"" + anchor + "\"" + extra + ">" +
         Escaped(text) + "</text>\n";
}

void Axes(std::string& svg, const Canvas& c, const Chart& chart) {
  const double x0 = c.X(0), y0 = c.Y(0), x1 = c.X(c.x_max()), y1 = c.Y(c.y_max());
  const double xs = TickStep(c.x_max()), ys = TickStep(c.y_max());
  for (double x = 0; x <= c.x_max() + xs / 2; x += xs) {
    svg += "<line x1=\"" + Num(c.X(x)) + "\" y1=\"" + Num(y0) + "\" x2=\"" + Num(c.X(x)) + "\" y2=\"" + Num(y1) +
           "\" stroke=\"#eee\"/>\n";
    Text(svg, c.X(x), y0 + 18, Num(x));
  }
  for (double y = 0; y <= c.y_max() + ys / 2; y += ys) {
    svg += "<line x1=\"" + Num(x0) + "\" y1=\"" + Num(c.Y(y)) + "\" x2=\"" + Num(x1) + "\" y2=\"" + Num(c.Y(y)) +
           "\" stroke=\"#eee\"/>\n";
    Text(svg, x0 - 8, c.Y(y) + 4, Num(y), "end");
  }
  svg += "<rect x=\"" + Num(x0) + "\" y=\"" + Num(y1) + "\" width=\"" + Num(x1 - x0) + "\" height=\"" +
         Num(y0 - y1) + "\" fill=\"none\" stroke=\"#444\"/>\n";
  Text(svg, (x0 + x1) / 2, kHeight - 16, chart.x_label);
  Text(svg, 18, (y0 + y1) / 2, chart.y_label, "middle",
       (" transform=\"rotate(-90 18 " + Num((y0 + y1) / 2) + ")\"").c_str());
  Text(svg, kWidth / 2, 26, chart.title, "middle", " font-size=\"16\" font-weight=\"bold\"");
}

void ReferenceLines(std::string& svg, const Canvas& c, const Chart& chart) {
  for (const ChartLine& l : chart.h_lines) {
    if (l.at > c.y_max()) continue;
    svg += "<line x1=\"" + Num(c.X(0)) + "\" y1=\"" + Num(c.Y(l.at)) + "\" x2=\"" + Num(c.X(c.x_max())) +
           "\" y2=\"" + Num(c.Y(l.at)) + "\" stroke=\"#c00\" stroke-dasharray=\"6 4\"/>\n";
    Text(svg, c.X(c.x_max()) - 4, c.Y(l.at) - 5, l.label, "end", " fill=\"#c00\"");
  }
  for (const ChartLine& l : chart.v_lines) {
    if (l.at > c.x_max()) continue;
    svg += "<line x1=\"" + Num(c.X(l.at)) + "\" y1=\"" + Num(c.Y(0)) + "\" x2=\"" + Num(c.X(l.at)) + "\" y2=\"" +
           Num(c.Y(c.y_max())) + "\" stroke=\"#555\" stroke-dasharray=\"3 3\"/>\n";
    Text(svg, c.X(l.at) + 4, c.Y(c.y_max()) + 14, l.label, "start", " fill=\"#555\"");
  }
}

void Series(std::string& svg, const Canvas& c, const Chart& chart) {
  svg += "<g clip-path=\"url(#plot)\" fill=\"none\" stroke-width=\"2\">\n";
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const ChartSeries& s = chart.series[i];
    std::string path;
    for (const auto& [x, y] : s.points) path += (path.empty() ? "M" : " L") + Num(c.X(x)) + " " + Num(c.Y(y));
    svg += std::string("<path stroke=\"") + kColours[i % std::size(kColours)] + "\" d=\"" + path + "\"/>\n";
    if (s.points.size() <= 24) {  // dots where they are few enough to read
      for (const auto& [x, y] : s.points) {
        svg += std::string("<circle r=\"2.5\" fill=\"") + kColours[i % std::size(kColours)] + "\" cx=\"" +
               Num(c.X(x)) + "\" cy=\"" + Num(c.Y(y)) + "\"/>\n";
      }
    }
  }
  svg += "</g>\n";
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const double y = kTop + 10 + 20 * i;
    const double x = kWidth - kRight + 16;
    svg += std::string("<line x1=\"") + Num(x) + "\" y1=\"" + Num(y) + "\" x2=\"" + Num(x + 22) + "\" y2=\"" +
           Num(y) + "\" stroke-width=\"3\" stroke=\"" + kColours[i % std::size(kColours)] + "\"/>\n";
    Text(svg, x + 28, y + 4, chart.series[i].name, "start");
  }
  if (chart.highlight) {
    const auto [x, y] = *chart.highlight;
    svg += "<circle r=\"7\" fill=\"none\" stroke=\"#000\" stroke-width=\"2\" cx=\"" + Num(c.X(x)) + "\" cy=\"" +
           Num(c.Y(y)) + "\"/>\n";
    Text(svg, c.X(x) + 10, c.Y(y) - 10, chart.highlight_label, "start", " font-weight=\"bold\"");
  }
}

}  // namespace

std::string RenderSvg(const Chart& chart) {
  double x_max = 0, y_max = 0;
  for (const ChartSeries& s : chart.series) {
    for (const auto& [x, y] : s.points) {
      x_max = std::max(x_max, x);
      y_max = std::max(y_max, y);
    }
  }
  for (const ChartLine& l : chart.h_lines) y_max = std::max(y_max, l.at);
  for (const ChartLine& l : chart.v_lines) x_max = std::max(x_max, l.at);
  const Canvas c(AxisMax(chart.x_max.value_or(x_max)), AxisMax(chart.y_max.value_or(y_max)));

  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(kWidth) + "\" height=\"" +
                    Num(kHeight) + "\" viewBox=\"0 0 " + Num(kWidth) + " " + Num(kHeight) +
                    "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
  svg += "<clipPath id=\"plot\"><rect x=\"" + Num(c.X(0)) + "\" y=\"" + Num(c.Y(c.y_max())) + "\" width=\"" +
         Num(c.X(c.x_max()) - c.X(0)) + "\" height=\"" + Num(c.Y(0) - c.Y(c.y_max())) + "\"/></clipPath>\n";
  Axes(svg, c, chart);
  ReferenceLines(svg, c, chart);
  Series(svg, c, chart);
  svg += "</svg>\n";
  return svg;
}

}  // namespace tbms
