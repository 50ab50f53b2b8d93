// Helpers the text models share, internal to tbms_text: reading and writing
// their line-based artifact files, and turning per-class scores into ranked
// predictions. Kept in one place so every model refuses a corrupt file with
// the same messages and breaks ties the same way. Value types and pure
// functions; thread-compatible.
#pragma once

#include <charconv>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/backends/text/text_model.h"
#include "tbms/common/status.h"

namespace tbms::text {

// ---- Files ----

// Splits `text` into '\n'-terminated lines, counting them for error messages.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : rest_(text) {}
  bool Next(std::string_view& line) {
    const size_t end = rest_.find('\n');
    if (end == std::string_view::npos) return false;
    line = rest_.substr(0, end);
    rest_.remove_prefix(end + 1);
    ++number_;
    return true;
  }
  int number() const { return number_; }

 private:
  std::string_view rest_;
  int number_ = 0;
};

// Parses all of `field` as a number; false if it is empty or has anything else.
template <typename T>
bool ParseNumber(std::string_view field, T& value) {
  auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), value);
  return !field.empty() && ec == std::errc() && end == field.data() + field.size();
}

// ParseNumber that also refuses nan and inf.
bool ParseFinite(std::string_view field, double& value);

// Appends `v` written shortest round-trip, so a loaded model scores exactly
// like the trained one.
void AppendNumber(std::string& out, double v);

// A file's text, refused if missing, unreadable or cut in the middle of a
// line; its errors are FAILED_PRECONDITION and name the file.
class TextFile {
 public:
  static StatusOr<TextFile> Read(const std::filesystem::path& path);

  // Reads the header line "<magic> <count>", with 0 < count <= max.
  Status Header(std::string_view magic, int max, LineReader& lines, int& count) const;
  Status Error(const std::string& what) const;
  Status Error(const LineReader& lines, const std::string& what) const;  // at the current line
  Status CountMismatch(int want, int got) const;  // the header announced `want` entries
  const std::string& text() const { return text_; }

 private:
  explicit TextFile(const std::filesystem::path& path) : name_(path.string()) {}

  std::string name_;
  std::string text_;
};

// Writes `text` to `path`, replacing the file; FAILED_PRECONDITION naming it
// if that fails.
Status WriteText(const std::filesystem::path& path, std::string_view text);

// ---- Scores ----

// Turns log-domain scores into probabilities, in place; `scores` is not empty.
void Softmax(std::vector<double>& scores);

// The k best of `scores` with their labels, best first; ties go to the lower
// index. `order` is scratch, so a batch can reuse it.
std::vector<Prediction> TopK(const std::vector<double>& scores, const std::vector<std::string>& labels, int k,
                             std::vector<int>& order);

}  // namespace tbms::text
