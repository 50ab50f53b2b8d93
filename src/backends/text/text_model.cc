#include "tbms/backends/text/text_model.h"

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

std::vector<StatusOr<Answer>> TextModel::Process(const Batch& batch) {
  std::vector<std::string_view> texts;
  texts.reserve(batch.items.size());
  for (const auto& item : batch.items) texts.push_back(item->question);
  const std::vector<std::vector<Prediction>> predictions = Predict(texts, kTop);
  std::vector<StatusOr<Answer>> answers;
  answers.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].empty()) {
      answers.emplace_back(InvalidArgument("the question is empty"));
    } else if (i >= predictions.size() || predictions[i].empty()) {
      answers.emplace_back(Unavailable("the model has no answer"));
    } else {
      answers.emplace_back(ToJson(predictions[i]));
    }
  }
  return answers;
}

}  // namespace tbms::text
