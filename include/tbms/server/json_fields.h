// Reading request fields from simdjson elements, with errors that name the
// field: shared by the try and the KServe v2 parsers. Thread-safe.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "tbms/common/status.h"

namespace tbms {

// 'text', for error messages.
std::string Quote(std::string_view text);
// A finite number in [lo, hi], integer or not.
Status ReadNumber(simdjson::dom::element e, std::string_view field, double lo, double hi, double* out);
// An integer in [lo, hi].
Status ReadInt(simdjson::dom::element e, std::string_view field, int lo, int hi, int* out);

}  // namespace tbms
