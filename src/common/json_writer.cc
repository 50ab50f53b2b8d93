#include "tbms/common/json_writer.h"

#include <charconv>
#include <cmath>

namespace tbms {

namespace {

// The length of the well-formed UTF-8 sequence at s[i] (a byte >= 0x80), or
// 0 when there is none (RFC 3629: no overlongs, surrogates or code points
// past U+10FFFF).
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0; };
  const auto in = [](unsigned char b, unsigned char lo, unsigned char hi) { return b >= lo && b <= hi; };
  const unsigned char lead = byte(0);
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the second byte's range
  if (in(lead, 0xC2, 0xDF)) {
    n = 2;
  } else if (in(lead, 0xE0, 0xEF)) {
    n = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (in(lead, 0xF0, 0xF4)) {
    n = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (!in(byte(1), lo, hi)) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (!in(byte(k), 0x80, 0xBF)) return 0;
  }
  return n;
}

}  // namespace

// Bytes that are not UTF-8 (a path or a name as a client sent it) become
// U+FFFD, so that what is written is always JSON.
void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  size_t run = 0;  // start of the pending run of characters that need no escape
  for (size_t i = 0; i < s.size(); ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x80 && u != '"' && u != '\\') continue;
    if (u >= 0x80) {
      if (const size_t n = Utf8SequenceAt(s, i); n > 0) {
        i += n - 1;
        continue;
      }
    }
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (u) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (u >= 0x80) {
          out += "\\ufffd";
          break;
        }
        out += "\\u00";
        out += kHex[u >> 4];
        out += kHex[u & 0xF];
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void AppendJsonNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[400];  // fixed notation of DBL_MAX has 309 digits
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 3);
  if (ec != std::errc()) {
    out += "null";
    return;
  }
  char* p = end;
  while (p > buf && p[-1] == '0') --p;
  if (p > buf && p[-1] == '.') --p;
  if (p - buf == 2 && buf[0] == '-' && buf[1] == '0') {  // -0.000 -> 0
    out += '0';
    return;
  }
  out.append(buf, static_cast<size_t>(p - buf));
}

JsonWriter& JsonWriter::Key(std::string_view k) {
  Sep();
  AppendJsonString(out_, k);
  out_ += ':';
  after_key_ = true;
  return *this;
}

}  // namespace tbms
