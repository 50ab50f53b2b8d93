// Multinomial naive Bayes over Tokenize() tokens, add-one (Laplace) smoothing.
//
// The model is one text file, `bayes.model`, every line ending in '\n':
//
//   tbms-bayes 1
//   classes <C>
//   <log prior> <log unseen> <label>                 C lines; class i is the i-th (from 0)
//   vocabulary <V>
//   <token> <n> <class> <log p> ... <class> <log p>  V lines, n pairs each
//
// "log unseen" is log P(token | class) for a vocabulary token the class never
// saw, log(1 / (tokens in class + V)); the pairs list only the classes that
// did see the token (classes ascending), so the file grows with the distinct
// (token, class) pairs, not with C x V. Numbers are written shortest
// round-trip, so a loaded model scores exactly like the trained one.
#include <algorithm>
#include <cmath>
#include <map>
#include <unordered_map>

#include "tbms/backends/text/text_files.h"
#include "tbms/backends/text/text_model.h"

namespace tbms::text {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kFile = "bayes.model";
constexpr std::string_view kMagic = "tbms-bayes 1";
constexpr int kMaxClasses = 1'000'000;
constexpr int kMaxVocabulary = 100'000'000;

// ---- Training ----

// Token counts of one class.
struct ClassCounts {
  std::string label;
  int docs = 0;
  int64_t tokens = 0;
};

// What training learns, before smoothing.
struct Counts {
  std::vector<ClassCounts> classes;                    // labels ascending
  std::vector<std::string> vocabulary;                 // token by id
  std::vector<std::vector<std::pair<int, int>>> seen;  // by token id: (class, count)
};

Status CheckExamples(const std::vector<Example>& examples) {
  if (examples.empty()) return InvalidArgument("bayes: no training examples");
  for (const Example& e : examples) {
    if (e.label.empty() || e.label.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument("bayes: a label is empty or has a line break: '" + e.label + "'");
    }
  }
  return OkStatus();
}

Counts Count(const std::vector<Example>& examples) {
  Counts counts;
  std::map<std::string, int> class_ids;
  for (const Example& e : examples) class_ids.emplace(e.label, 0);
  for (auto& [label, id] : class_ids) {
    id = static_cast<int>(counts.classes.size());
    counts.classes.push_back({label});
  }
  std::unordered_map<std::string, int> token_ids;
  for (const Example& e : examples) {
    const int c = class_ids[e.label];
    ++counts.classes[c].docs;
    for (std::string& token : Tokenize(e.text)) {
      auto [it, added] = token_ids.try_emplace(std::move(token), static_cast<int>(token_ids.size()));
      if (added) {
        counts.vocabulary.push_back(it->first);
        counts.seen.emplace_back();
      }
      auto& seen = counts.seen[it->second];
      auto pair = std::find_if(seen.begin(), seen.end(), [c](const auto& p) { return p.first == c; });
      if (pair == seen.end()) pair = seen.insert(seen.end(), {c, 0});
      ++pair->second;
      ++counts.classes[c].tokens;
    }
  }
  return counts;
}

std::string Serialize(Counts& counts) {
  const auto v = static_cast<double>(counts.vocabulary.size());
  double docs = 0;
  for (const ClassCounts& c : counts.classes) docs += c.docs;
  std::vector<double> denominator_log;  // log(tokens in class + V)
  std::string out = std::string(kMagic) + "\nclasses " + std::to_string(counts.classes.size()) + "\n";
  for (const ClassCounts& c : counts.classes) {
    denominator_log.push_back(std::log(static_cast<double>(c.tokens) + v));
    AppendNumber(out, std::log(c.docs) - std::log(docs));
    out += ' ';
    AppendNumber(out, -denominator_log.back());
    out += ' ' + c.label + '\n';
  }
  out += "vocabulary " + std::to_string(counts.vocabulary.size()) + "\n";
  std::vector<int> order(counts.vocabulary.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return counts.vocabulary[a] < counts.vocabulary[b]; });
  for (int t : order) {
    auto& seen = counts.seen[t];
    std::sort(seen.begin(), seen.end());
    out += counts.vocabulary[t] + ' ' + std::to_string(seen.size());
    for (const auto& [c, n] : seen) {
      out += ' ' + std::to_string(c) + ' ';
      AppendNumber(out, std::log(n + 1.0) - denominator_log[c]);
    }
    out += '\n';
  }
  return out;
}

// ---- Loading ----

// The next space-separated field of `rest` (consumed); empty at the end.
std::string_view NextField(std::string_view& rest) {
  const size_t end = std::min(rest.find(' '), rest.size());
  std::string_view field = rest.substr(0, end);
  rest.remove_prefix(std::min(end + 1, rest.size()));
  return field;
}

bool ParseLogProb(std::string_view field, double& value) { return ParseFinite(field, value) && value <= 0; }

// Reads "<key> <count>" with 0 < count <= max.
bool ParseCountLine(std::string_view line, std::string_view key, int max, int& count) {
  return NextField(line) == key && ParseNumber(line, count) && count > 0 && count <= max;
}

// A naive Bayes classifier read from bayes.model; scores are posteriors.
// Safe for concurrent use: immutable after Load returns.
class BayesModel final : public TextModel {
 public:
  static StatusOr<std::unique_ptr<TextModel>> Load(const fs::path& path);

  std::vector<std::vector<Prediction>> Predict(const std::vector<std::string_view>& texts,
                                               int k) const override;

 private:
  // A class that saw a token: its log P(token | class) minus the class's log unseen.
  struct Seen {
    int cls;
    double delta;
  };

  Status Parse(const TextFile& file);
  Status ParseClasses(const TextFile& file, LineReader& lines);
  Status ParseVocabulary(const TextFile& file, LineReader& lines);
  void Posterior(std::string_view text, std::vector<double>& scores) const;

  // Constant after Load.
  std::vector<std::string> labels_;
  std::vector<double> log_prior_;
  std::vector<double> log_unseen_;
  std::unordered_map<std::string, int> token_ids_;
  std::vector<size_t> first_seen_;  // by token id, into seen_; one past the end last
  std::vector<Seen> seen_;
};

StatusOr<std::unique_ptr<TextModel>> BayesModel::Load(const fs::path& path) {
  StatusOr<TextFile> file = TextFile::Read(path);
  if (!file.ok()) return file.status();
  auto model = std::unique_ptr<BayesModel>(new BayesModel());
  TBMS_RETURN_IF_ERROR(model->Parse(*file));
  return std::unique_ptr<TextModel>(std::move(model));
}

Status BayesModel::Parse(const TextFile& file) {
  LineReader lines(file.text());
  std::string_view line;
  if (!lines.Next(line) || line != kMagic) {
    return file.Error("not a bayes model (expected '" + std::string(kMagic) + "' on the first line)");
  }
  TBMS_RETURN_IF_ERROR(ParseClasses(file, lines));
  TBMS_RETURN_IF_ERROR(ParseVocabulary(file, lines));
  if (lines.Next(line)) return file.Error(lines, "unexpected text after the vocabulary");
  return OkStatus();
}

Status BayesModel::ParseClasses(const TextFile& file, LineReader& lines) {
  std::string_view line;
  int count = 0;
  if (!lines.Next(line)) return file.Error("truncated before the classes");
  if (!ParseCountLine(line, "classes", kMaxClasses, count)) {
    return file.Error(lines, "expected 'classes <count>'");
  }
  for (int c = 0; c < count; ++c) {
    if (!lines.Next(line)) return file.Error("truncated in the classes");
    double prior = 0, unseen = 0;
    if (!ParseLogProb(NextField(line), prior) || !ParseLogProb(NextField(line), unseen) || line.empty()) {
      return file.Error(lines, "expected '<log prior> <log unseen> <label>'");
    }
    log_prior_.push_back(prior);
    log_unseen_.push_back(unseen);
    labels_.emplace_back(line);
  }
  return OkStatus();
}

Status BayesModel::ParseVocabulary(const TextFile& file, LineReader& lines) {
  std::string_view line;
  int count = 0;
  if (!lines.Next(line)) return file.Error("truncated before the vocabulary");
  if (!ParseCountLine(line, "vocabulary", kMaxVocabulary, count)) {
    return file.Error(lines, "expected 'vocabulary <count>'");
  }
  const int classes = static_cast<int>(labels_.size());
  for (int t = 0; t < count; ++t) {
    if (!lines.Next(line)) return file.Error("truncated in the vocabulary");
    const std::string_view token = NextField(line);
    int n = 0;
    if (token.empty() || !ParseNumber(NextField(line), n) || n < 1 || n > classes) {
      return file.Error(lines, "expected '<token> <pairs> <class> <log p> ...'");
    }
    if (!token_ids_.emplace(std::string(token), t).second) {
      return file.Error(lines, "token '" + std::string(token) + "' appears twice");
    }
    first_seen_.push_back(seen_.size());
    for (int i = 0, last = -1; i < n; ++i) {
      int c = 0;
      double log_p = 0;
      if (!ParseNumber(NextField(line), c) || c <= last || c >= classes ||
          !ParseLogProb(NextField(line), log_p)) {
        return file.Error(lines, "bad (class, log p) pair " + std::to_string(i + 1));
      }
      seen_.push_back({c, log_p - log_unseen_[c]});
      last = c;
    }
    if (!line.empty()) return file.Error(lines, "more pairs than announced");
  }
  first_seen_.push_back(seen_.size());
  return OkStatus();
}

// Fills `scores` with P(class | text): the log joint of each class, then a
// softmax. Unknown tokens are ignored, so a text without known tokens gets the
// priors.
void BayesModel::Posterior(std::string_view text, std::vector<double>& scores) const {
  scores = log_prior_;
  double known = 0;
  for (const std::string& token : Tokenize(text)) {
    const auto it = token_ids_.find(token);
    if (it == token_ids_.end()) continue;
    ++known;
    const int t = it->second;
    for (size_t i = first_seen_[t]; i < first_seen_[t + 1]; ++i) scores[seen_[i].cls] += seen_[i].delta;
  }
  for (size_t c = 0; c < scores.size(); ++c) scores[c] += known * log_unseen_[c];
  Softmax(scores);
}

std::vector<std::vector<Prediction>> BayesModel::Predict(const std::vector<std::string_view>& texts,
                                                         int k) const {
  std::vector<std::vector<Prediction>> out;
  out.reserve(texts.size());
  std::vector<double> scores;  // reused across the batch
  std::vector<int> order;
  for (std::string_view text : texts) {
    Posterior(text, scores);
    out.push_back(TopK(scores, labels_, k, order));
  }
  return out;
}

}  // namespace

Status TrainBayes(const std::vector<Example>& examples, const fs::path& dir) {
  TBMS_RETURN_IF_ERROR(CheckExamples(examples));
  Counts counts = Count(examples);
  const std::string text = Serialize(counts);
  std::error_code ec;
  fs::create_directories(dir, ec);
  return WriteText(dir / kFile, text);
}

StatusOr<std::unique_ptr<TextModel>> LoadBayes(const fs::path& dir) { return BayesModel::Load(dir / kFile); }

}  // namespace tbms::text
