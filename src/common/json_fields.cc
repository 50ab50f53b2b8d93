#include "tbms/common/json_fields.h"

#include <algorithm>
#include <charconv>
#include <optional>
#include <cmath>
#include <vector>


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
  if (err == simdjson::NUMBER_ERROR || err == simdjson::NUMBER_OUT_OF_RANGE) {
    return InvalidArgument("a number in the JSON is malformed or out of range (numbers must fit a 64-bit float)");
  }
  if (err != simdjson::SUCCESS) return InvalidArgument(std::string("malformed JSON: ") + simdjson::error_message(err));
  return OkStatus();
}

std::string Quote(std::string_view text) {
  std::string out = "'";
  for (char c : text.substr(0, kMaxQuoted)) {
    const auto u = static_cast<unsigned char>(c);
    out += u < 0x20 || u == 0x7f ? '?' : c;
  }
  out += '\'';
  if (text.size() > kMaxQuoted) out += " (" + std::to_string(text.size()) + " bytes, cut)";
  return out;
}

Status NoDuplicateKeys(simdjson::dom::object obj, std::string_view at) {
  thread_local std::vector<std::string_view> keys;  // reused: no allocation once warm
  keys.clear();
  for (auto [key, value] : obj) keys.push_back(key);
  if (keys.size() < 2) return OkStatus();
  std::sort(keys.begin(), keys.end());
  const auto twice = std::adjacent_find(keys.begin(), keys.end());
  if (twice == keys.end()) return OkStatus();
  return InvalidArgument(std::string(at) + (at.empty() ? "" : ": ") + "duplicate field " + Quote(*twice));
}

namespace {
// The shortest text that reads back as `v`: a message shows the value given
// (600000.0000001, not 600000).
std::string Num(double v) {
  char buf[64];
  const double a = std::fabs(v);
  const auto format = a == 0 || (a >= 1e-6 && a < 1e15) ? std::chars_format::fixed : std::chars_format::general;
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, format);
  return ec == std::errc() ? std::string(buf, end) : std::string("?");
}

// A JSON number of any kind as a double; nullopt for anything else.
std::optional<double> AsNumber(element e) {
  switch (e.type()) {
    case element_type::DOUBLE: return e.get_double().value_unsafe();
    case element_type::INT64: return static_cast<double>(e.get_int64().value_unsafe());
    case element_type::UINT64: return static_cast<double>(e.get_uint64().value_unsafe());
    default: return std::nullopt;
  }
}
}  // namespace

Status ReadNumber(element e, std::string_view field, double lo, double hi, double* out) {
  const std::optional<double> number = AsNumber(e);
  if (!number) return InvalidArgument(std::string(field) + " must be a number");
  const double v = *number;
  if (!std::isfinite(v) || v < lo || v > hi) {
    return InvalidArgument(std::string(field) + " must be in [" + Num(lo) + ", " + Num(hi) +
                           "], got " + Num(v));
  }
  *out = v;
  return OkStatus();
}

Status ReadMs(element e, std::string_view field, bool positive, double max_ms, Duration* out) {
  const std::optional<double> number = AsNumber(e);
  if (!number) return InvalidArgument(std::string(field) + " must be a number of milliseconds");
  const double v = *number;
  const Duration d = std::isfinite(v) && v >= 0 && v <= max_ms ? Millis(v) : Duration(-1);
  if (d < Duration(0) || (positive && d == Duration(0))) {
    return InvalidArgument(std::string(field) + " must be in " + (positive ? "(0, " : "[0, ") + Num(max_ms) +
                           "] ms, got " + Num(v));
  }
  *out = d;
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
