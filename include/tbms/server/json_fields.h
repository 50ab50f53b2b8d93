// Reading request fields from simdjson elements, with errors that name the
// field: shared by the try and the KServe v2 parsers. Thread-safe.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "tbms/common/status.h"

namespace tbms {

// Deeper JSON is refused: no request needs it (a rank-8 tensor is 10 deep).
constexpr size_t kMaxJsonDepth = 32;

// Parses a request body with this thread's parser; `root` is valid until the
// next ParseBody on this thread. INVALID_ARGUMENT "malformed JSON: ..." or
// "JSON is nested deeper than 32 levels".
Status ParseBody(std::string_view body, simdjson::dom::element* root);

// 'text', for error messages.
std::string Quote(std::string_view text);
// A finite number in [lo, hi], integer or not.
Status ReadNumber(simdjson::dom::element e, std::string_view field, double lo, double hi, double* out);
// An integer in [lo, hi].
Status ReadInt(simdjson::dom::element e, std::string_view field, int lo, int hi, int* out);

}  // namespace tbms
