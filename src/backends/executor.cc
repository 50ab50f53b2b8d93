#include "tbms/backends/executor.h"

#include <algorithm>

namespace tbms {
namespace {
constexpr std::string_view kTryOver = "not run: its try was already over";
}  // namespace

Status SkippedTryOver() { return Cancelled(std::string(kTryOver)); }

bool IsSkippedTryOver(const Status& status) {
  return status.code() == StatusCode::kCancelled && status.message() == kTryOver;
}

bool Batch::AllOver() const {
  return std::all_of(items.begin(), items.end(), [](const auto& in) { return in->over.is_set(); });
}

size_t BatchResult::Skipped() const {
  return static_cast<size_t>(std::count_if(answers.begin(), answers.end(), [](const StatusOr<Answer>& a) {
    return !a.ok() && IsSkippedTryOver(a.status());
  }));
}

}  // namespace tbms
