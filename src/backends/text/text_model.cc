#include "tbms/backends/text/text_model.h"

#include <algorithm>

#include "tbms/common/json_writer.h"

namespace tbms::text {
namespace {
constexpr int kTop = 5;

Answer ToJson(const std::vector<Prediction>& top) {
  Answer out;
  JsonWriter w(out);
  w.BeginObject().Key("answer").String(top[0].label).Key("score").Number(top[0].score);
  if (!top[0].detail.empty()) w.Key("detail").String(top[0].detail);
  w.Key("top").BeginArray();
  for (const Prediction& p : top) w.BeginObject().Key("answer").String(p.label).Key("score").Number(p.score).EndObject();
  w.EndArray().EndObject();
  return out;
}
}  // namespace

// Runs of up to items_per_predict() items whose tries are not over go to
// Predict; an item whose try ended before its run starts is skipped.
std::vector<StatusOr<Answer>> TextModel::Process(const Batch& batch) {
  const size_t n = batch.items.size(), run = std::max<size_t>(1, items_per_predict());
  std::vector<StatusOr<Answer>> answers(n, SkippedTryOver());
  std::vector<std::string_view> texts;
  texts.reserve(std::min(n, run));
  for (size_t begin = 0; begin < n;) {
    if (batch.items[begin]->over.is_set()) {
      ++begin;
      continue;
    }
    texts.clear();
    size_t end = begin;
    while (end < n && texts.size() < run && !batch.items[end]->over.is_set()) {
      texts.push_back(batch.items[end++]->question);
    }
    const std::vector<std::vector<Prediction>> predictions = Predict(texts, kTop);
    for (size_t i = 0; i < texts.size(); ++i) {
      if (texts[i].empty()) {
        answers[begin + i] = InvalidArgument("the question is empty");
      } else if (i >= predictions.size() || predictions[i].empty()) {
        answers[begin + i] = Unavailable("the model has no answer");
      } else {
        answers[begin + i] = ToJson(predictions[i]);
      }
    }
    begin = end;
  }
  return answers;
}

}  // namespace tbms::text
