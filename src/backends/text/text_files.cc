#include "tbms/backends/text/text_files.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

namespace tbms::text {

bool ParseFinite(std::string_view field, double& value) {
  return ParseNumber(field, value) && std::isfinite(value);
}

void AppendNumber(std::string& out, double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip
  out.append(buf, end);
}

StatusOr<TextFile> TextFile::Read(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailedPrecondition(path.string() + ": cannot open (missing or unreadable)");
  TextFile file(path);
  file.text_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return FailedPrecondition(path.string() + ": read error");
  if (!file.text_.empty() && file.text_.back() != '\n') {
    return FailedPrecondition(path.string() + ": truncated (the last line is incomplete)");
  }
  return file;
}

Status TextFile::Header(std::string_view magic, int max, LineReader& lines, int& count) const {
  std::string_view line;
  if (!lines.Next(line) || !line.starts_with(magic) || line.size() == magic.size() ||
      line[magic.size()] != ' ' || !ParseNumber(line.substr(magic.size() + 1), count) || count <= 0 ||
      count > max) {
    return Error("expected the header '" + std::string(magic) + " <count>' on line 1");
  }
  return OkStatus();
}

Status TextFile::Error(const std::string& what) const { return FailedPrecondition(name_ + ": " + what); }

Status TextFile::Error(const LineReader& lines, const std::string& what) const {
  return Error("line " + std::to_string(lines.number()) + ": " + what);
}

Status TextFile::CountMismatch(int want, int got) const {
  return Error(std::string(got < want ? "truncated: " : "") + "the header announces " + std::to_string(want) +
               " entries, the file has " + std::to_string(got));
}

Status WriteText(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return FailedPrecondition(path.string() + ": cannot write");
  return OkStatus();
}

void Softmax(std::vector<double>& scores) {
  const double max = *std::max_element(scores.begin(), scores.end());  // exp cannot overflow
  double sum = 0;
  for (double& s : scores) sum += (s = std::exp(s - max));
  for (double& s : scores) s /= sum;
}

std::vector<Prediction> TopK(const std::vector<double>& scores, const std::vector<std::string>& labels, int k,
                             std::vector<int>& order) {
  const size_t n = std::min(scores.size(), static_cast<size_t>(std::max(k, 0)));
  order.resize(scores.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::partial_sort(order.begin(), order.begin() + n, order.end(),
                    [&](int a, int b) { return scores[a] != scores[b] ? scores[a] > scores[b] : a < b; });
  std::vector<Prediction> top;
  top.reserve(n);
  for (size_t i = 0; i < n; ++i) top.push_back({labels[order[i]], scores[order[i]], {}});
  return top;
}

}  // namespace tbms::text
