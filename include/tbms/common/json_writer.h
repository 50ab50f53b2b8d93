// JsonWriter: appends compact JSON to a string, escaping as RFC 8259 says.
// Meant for hot paths: no DOM, no allocation beyond the output buffer.
// Thread-compatible.
#pragma once

#include <string>
#include <string_view>

namespace tbms {

// Appends `s` as a quoted JSON string.
void AppendJsonString(std::string& out, std::string_view s);
// Appends a number with up to 3 decimals, no trailing zeros (1.5, 12, 0.025).
void AppendJsonNumber(std::string& out, double v);

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& BeginObject() { Sep(); out_ += '{'; first_ = true; return *this; }
  JsonWriter& EndObject() { out_ += '}'; first_ = false; return *this; }
  JsonWriter& BeginArray() { Sep(); out_ += '['; first_ = true; return *this; }
  JsonWriter& EndArray() { out_ += ']'; first_ = false; return *this; }
  JsonWriter& Key(std::string_view k);
  JsonWriter& String(std::string_view s) { Sep(); AppendJsonString(out_, s); return *this; }
  JsonWriter& Number(double v) { Sep(); AppendJsonNumber(out_, v); return *this; }
  JsonWriter& Int(long long v) { Sep(); out_ += std::to_string(v); return *this; }
  JsonWriter& Bool(bool v) { Sep(); out_ += v ? "true" : "false"; return *this; }
  JsonWriter& Null() { Sep(); out_ += "null"; return *this; }
  // Appends already-serialized JSON as a value.
  JsonWriter& Raw(std::string_view json) { Sep(); out_ += json; return *this; }

 private:
  void Sep() {
    if (!first_ && !after_key_) out_ += ',';
    first_ = false;
    after_key_ = false;
  }
  std::string& out_;
  bool first_ = true;
  bool after_key_ = false;
};

}  // namespace tbms
