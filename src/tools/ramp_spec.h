// A load ramp given on the command line as FROM:TO:STEPS (tbms sim --ramp,
// tbms tune --online-ramp): STEPS evenly spaced levels from FROM to TO.
#pragma once

#include <string_view>
#include <vector>

#include "tbms/common/status.h"

namespace tbms::tools {

// INVALID_ARGUMENT naming `flag` unless 0 < FROM < TO and STEPS is a whole 2 .. 100.
StatusOr<std::vector<double>> ParseRampSpec(std::string_view spec, std::string_view flag);

}  // namespace tbms::tools
