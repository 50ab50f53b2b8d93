// Reading request fields from simdjson elements, with errors that name the
// field: shared by the try and the KServe v2 parsers. Thread-safe.
#pragma once

#include <simdjson.h>

#include <string>
#include <string_view>

#include "tbms/common/status.h"
#include "tbms/common/time.h"

namespace tbms {

// Deeper JSON is refused: no request needs it (a rank-8 tensor is 10 deep).
constexpr size_t kMaxJsonDepth = 32;

// Parses a request body with this thread's parser; `root` is valid until the
// next ParseBody on this thread. INVALID_ARGUMENT "malformed JSON: ..." or
// "JSON is nested deeper than 32 levels".
Status ParseBody(std::string_view body, simdjson::dom::element* root);

// 'text', for error messages; at most kMaxQuoted bytes of it, printable
// (a 1 MB name in a request must not come back in its 404).
constexpr size_t kMaxQuoted = 128;
std::string Quote(std::string_view text);
// INVALID_ARGUMENT "AT: duplicate field 'k'" when `obj` has a key twice:
// with unknown fields refused, a second value must not silently win.
Status NoDuplicateKeys(simdjson::dom::object obj, std::string_view at);
// A finite number in [lo, hi], integer or not.
Status ReadNumber(simdjson::dom::element e, std::string_view field, double lo, double hi, double* out);
// A duration in milliseconds in (0, max_ms] when `positive`, else [0, max_ms];
// a value that rounds to 0 µs is not positive. The message is the broker's
// for the same bound (Broker::Check): "tloc must be in (0, 600000] ms, got 0.0001".
Status ReadMs(simdjson::dom::element e, std::string_view field, bool positive, double max_ms, Duration* out);
// An integer in [lo, hi].
Status ReadInt(simdjson::dom::element e, std::string_view field, int lo, int hi, int* out);

}  // namespace tbms
