#include "ramp_spec.h"

#include <charconv>
#include <cmath>
#include <string>

namespace tbms::tools {

StatusOr<std::vector<double>> ParseRampSpec(std::string_view spec, std::string_view flag) {
  const std::string f(flag);
  double v[3];
  std::string_view rest = spec;
  for (int i = 0; i < 3; ++i) {
    const size_t colon = rest.find(':');
    if ((i < 2) == (colon == std::string_view::npos)) {
      return InvalidArgument(f + ": expected FROM:TO:STEPS, got '" + std::string(spec) + "'");
    }
    const std::string_view part = rest.substr(0, colon);
    auto [p, ec] = std::from_chars(part.data(), part.data() + part.size(), v[i]);
    if (ec != std::errc() || p != part.data() + part.size() || !std::isfinite(v[i])) {
      return InvalidArgument(f + ": bad number '" + std::string(part) + "' in '" + std::string(spec) + "'");
    }
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
  }
  const double from = v[0], to = v[1], steps = v[2];
  if (steps < 2 || steps > 100 || steps != std::floor(steps) || from <= 0 || to <= from) {
    return InvalidArgument(f + ": 0 < FROM < TO, and 2 to 100 whole STEPS");
  }
  std::vector<double> levels;
  const int n = static_cast<int>(steps);
  for (int k = 0; k < n; ++k) levels.push_back(from + (to - from) * k / (n - 1));
  return levels;
}

}  // namespace tbms::tools
