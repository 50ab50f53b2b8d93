#include "tbms/server/json_fields.h"

#include <cmath>

#include "tbms/common/json_writer.h"

namespace tbms {

using simdjson::dom::element;
using simdjson::dom::element_type;

Status ParseBody(std::string_view body, element* root) {
  thread_local simdjson::dom::parser parser = [] {
    simdjson::dom::parser p;
    // Grows with the bodies it sees and keeps the depth; if this small first
    // allocation failed, parse would allocate again and report it.
    if (p.allocate(simdjson::SIMDJSON_PADDING, kMaxJsonDepth) != simdjson::SUCCESS) return p;
    return p;
  }();
  const auto err = parser.parse(body.data(), body.size()).get(*root);
  if (err == simdjson::DEPTH_ERROR) {
    return InvalidArgument("JSON is nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  if (err != simdjson::SUCCESS) return InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(err));
  return OkStatus();
}

std::string Quote(std::string_view text) { return "'" + std::string(text) + "'"; }

namespace {
std::string Num(double v) {
  std::string out;
  AppendJsonNumber(out, v);
  return out;
}
}  // namespace

Status ReadNumber(element e, std::string_view field, double lo, double hi, double* out) {
  double v;
  switch (e.type()) {
    case element_type::DOUBLE: v = e.get_double().value_unsafe(); break;
    case element_type::INT64: v = static_cast<double>(e.get_int64().value_unsafe()); break;
    case element_type::UINT64: v = static_cast<double>(e.get_uint64().value_unsafe()); break;
    default: return InvalidArgument(std::string(field) + " must be a number");
  }
  if (!std::isfinite(v) || v < lo || v > hi) {
    return InvalidArgument(std::string(field) + " must be in [" + Num(lo) + ", " + Num(hi) +
                           "], got " + Num(v));
  }
  *out = v;
  return OkStatus();
}

Status ReadInt(element e, std::string_view field, int lo, int hi, int* out) {
  int64_t v;
  if (e.type() == element_type::INT64) {
    v = e.get_int64().value_unsafe();
  } else if (e.type() == element_type::UINT64) {
    v = INT64_MAX;
  } else {
    return InvalidArgument(std::string(field) + " must be an integer");
  }
  if (v < lo || v > hi) {
    return InvalidArgument(std::string(field) + " must be in [" + std::to_string(lo) + ", " +
                           std::to_string(hi) + "]");
  }
  *out = static_cast<int>(v);
  return OkStatus();
}

}  // namespace tbms
