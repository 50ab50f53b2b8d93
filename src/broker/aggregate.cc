// Rule 8's aggregators over members' answers (JSON texts).
#include <simdjson.h>

#include <algorithm>
#include <map>

#include "tbms/broker/try.h"
#include "tbms/common/json_writer.h"

namespace tbms {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

bool AsNumber(element e, double* out) {
  switch (e.type()) {
    case element_type::DOUBLE: *out = e.get_double().value_unsafe(); return true;
    case element_type::INT64: *out = static_cast<double>(e.get_int64().value_unsafe()); return true;
    case element_type::UINT64: *out = static_cast<double>(e.get_uint64().value_unsafe()); return true;
    default: return false;
  }
}

// A score for max: the answer itself if a number, else its "score" field.
bool Score(element e, double* out) {
  if (AsNumber(e, out)) return true;
  element score;
  return e.type() == element_type::OBJECT && e["score"].get(score) == simdjson::SUCCESS &&
         AsNumber(score, out);
}

StatusOr<Answer> Max(const std::vector<element>& docs, const std::vector<const Answer*>& answers) {
  size_t best = 0;
  double best_score = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    double s;
    if (!Score(docs[i], &s)) {
      return InvalidArgument("max needs numbers or objects with a numeric \"score\"");
    }
    if (i == 0 || s > best_score) {  // ties keep the better-ranked member
      best = i;
      best_score = s;
    }
  }
  return *answers[best];
}

StatusOr<Answer> Avg(const std::vector<element>& docs) {
  const element_type type = docs[0].type();
  std::string out;
  if (type == element_type::ARRAY) {
    std::vector<double> sum;
    for (size_t k = 0; k < docs.size(); ++k) {
      simdjson::dom::array arr;
      if (docs[k].get_array().get(arr) != simdjson::SUCCESS) return InvalidArgument("avg: mixed answer types");
      if (k == 0) sum.assign(arr.size(), 0);
      if (arr.size() != sum.size()) return InvalidArgument("avg: arrays of different lengths");
      size_t i = 0;
      for (element x : arr) {
        double v;
        if (!AsNumber(x, &v)) return InvalidArgument("avg: arrays must hold numbers");
        sum[i++] += v;
      }
    }
    JsonWriter w(out);
    w.BeginArray();
    for (double v : sum) w.Number(v / static_cast<double>(docs.size()));
    w.EndArray();
    return out;
  }
  if (type == element_type::OBJECT) {
    // Numbers are averaged key-wise over the members that have the key; any
    // other value (a label, a text) is the best-ranked member's.
    std::map<std::string, std::pair<double, int>> acc;
    std::map<std::string, std::string> other;
    std::vector<std::string> order;  // keys in first-seen order
    for (element d : docs) {
      simdjson::dom::object obj;
      if (d.get_object().get(obj) != simdjson::SUCCESS) return InvalidArgument("avg: mixed answer types");
      for (auto [key, value] : obj) {
        const std::string k(key);
        if (acc.count(k) == 0 && other.count(k) == 0) order.push_back(k);
        double v;
        if (AsNumber(value, &v)) {
          if (other.count(k) != 0) return InvalidArgument("avg: key '" + k + "' is a number in some answers only");
          auto& [total, n] = acc[k];
          total += v;
          ++n;
        } else if (acc.count(k) != 0) {
          return InvalidArgument("avg: key '" + k + "' is a number in some answers only");
        } else if (other.count(k) == 0) {
          other[k] = simdjson::minify(value);
        }
      }
    }
    JsonWriter w(out);
    w.BeginObject();
    for (const std::string& key : order) {
      if (auto it = acc.find(key); it != acc.end()) {
        w.Key(key).Number(it->second.first / it->second.second);
      } else {
        w.Key(key).Raw(other[key]);
      }
    }
    w.EndObject();
    return out;
  }
  double total = 0;
  for (element d : docs) {
    double v;
    if (!AsNumber(d, &v)) return InvalidArgument("avg needs numbers, arrays of numbers or objects of numbers");
    total += v;
  }
  AppendJsonNumber(out, total / static_cast<double>(docs.size()));
  return out;
}

StatusOr<Answer> Vote(const std::vector<element>& docs, const std::vector<const Answer*>& answers) {
  std::vector<std::string> canonical;
  for (element d : docs) canonical.push_back(simdjson::minify(d));
  size_t best = 0;
  int best_votes = 0;
  for (size_t i = 0; i < canonical.size(); ++i) {
    const int votes = static_cast<int>(std::count(canonical.begin(), canonical.end(), canonical[i]));
    if (votes > best_votes) {  // ties keep the better-ranked member
      best = i;
      best_votes = votes;
    }
  }
  return *answers[best];
}

}  // namespace

StatusOr<Answer> Aggregate(Aggregator aggregator, const std::vector<const Answer*>& answers) {
  if (answers.empty()) return InvalidArgument("a mix needs at least one answer");
  if (answers.size() == 1) return *answers[0];
  std::vector<simdjson::dom::parser> parsers(answers.size());
  std::vector<element> docs;
  for (size_t i = 0; i < answers.size(); ++i) {
    element e;
    if (parsers[i].parse(*answers[i]).get(e) != simdjson::SUCCESS) {
      return InvalidArgument("a member's answer is not JSON");
    }
    docs.push_back(e);
  }
  switch (aggregator) {
    case Aggregator::kMax: return Max(docs, answers);
    case Aggregator::kAvg: return Avg(docs);
    case Aggregator::kVote: return Vote(docs, answers);
  }
  return Internal("unknown aggregator");
}

}  // namespace tbms
