// A linear classifier (liblinear) over TF-IDF features of Tokenize() tokens.
//
// A version folder holds three files, every line ending in '\n':
//   labels.txt    "tbms-svm-labels 1 <C>", then one label per line; the i-th
//                 label (from 0) is the class liblinear calls label i.
//   features.txt  "tbms-svm-features 1 <F>", then "<token> <idf>" per line;
//                 the i-th token (from 1) is liblinear feature index i.
//   svm.model     liblinear's own model format (save_model/load_model), so a
//                 model can also be trained with liblinear's `train` tool on
//                 rows built with features.txt: feature i of a text is
//                 (1 + log tf) * idf, the row l2-normalized, bias 1.
// Training uses L2-regularized logistic regression (one-vs-rest), so the
// score is liblinear's probability estimate; a model trained with a
// non-probabilistic solver is scored with a softmax of its decision values.
#include <linear.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "tbms/backends/text/text_files.h"
#include "tbms/backends/text/text_model.h"
#include "tbms/common/mutex.h"

namespace tbms::text {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kLabelsFile = "labels.txt";
constexpr std::string_view kFeaturesFile = "features.txt";
constexpr std::string_view kModelFile = "svm.model";
constexpr std::string_view kLabelsMagic = "tbms-svm-labels 1";
constexpr std::string_view kFeaturesMagic = "tbms-svm-features 1";
constexpr double kBias = 1;
// liblinear's defaults for L2R_LR. C = 1 trains a synthetic 90k-text, 45-class,
// 40k-feature problem in ~6 s on one core; C = 4 took 21 s for no better accuracy.
constexpr double kCost = 1;
constexpr double kTolerance = 0.01;
constexpr int kMinDocumentFrequency = 2;
constexpr int kMaxCount = 100'000'000;

// liblinear's save_model and load_model switch the process locale to "C" and
// back (setlocale is not thread-safe), so our calls take turns. Code outside
// this file that calls setlocale concurrently is not covered.
Mutex& LocaleMutex() {
  static Mutex mu;
  return mu;
}

void Silent(const char*) {}

struct Freer {
  void operator()(model* m) const { free_and_destroy_model(&m); }
};
using ModelPtr = std::unique_ptr<model, Freer>;

// ---- Features, shared by training and prediction ----

// Feature indexes (from 1) by token, with their idf (idf[0] unused).
struct Vocabulary {
  std::unordered_map<std::string, int> index;
  std::vector<std::string> tokens;  // by index - 1
  std::vector<double> idf;          // by index
};

// Appends the sparse row of one text: l2-normalized sublinear TF-IDF, then the
// bias node (if bias >= 0) and liblinear's terminator. `ids` is scratch.
void AppendRow(const std::vector<std::string>& tokens, const Vocabulary& vocab, double bias,
               std::vector<int>& ids, std::vector<feature_node>& row) {
  ids.clear();
  for (const std::string& token : tokens) {
    const auto it = vocab.index.find(token);
    if (it != vocab.index.end()) ids.push_back(it->second);
  }
  std::sort(ids.begin(), ids.end());  // liblinear wants ascending indexes
  const size_t first = row.size();
  double norm2 = 0;
  for (size_t i = 0; i < ids.size();) {
    size_t j = i;
    while (j < ids.size() && ids[j] == ids[i]) ++j;
    const double value = (1 + std::log(static_cast<double>(j - i))) * vocab.idf[ids[i]];
    row.push_back({ids[i], value});
    norm2 += value * value;
    i = j;
  }
  if (norm2 > 0) {
    const double scale = 1 / std::sqrt(norm2);
    for (size_t i = first; i < row.size(); ++i) row[i].value *= scale;
  }
  if (bias >= 0) row.push_back({static_cast<int>(vocab.tokens.size()) + 1, bias});
  row.push_back({-1, 0});
}

// ---- Training ----

Status CheckExamples(const std::vector<Example>& examples) {
  std::set<std::string_view> labels;
  for (const Example& e : examples) {
    if (e.label.empty() || e.label.find_first_of("\r\n") != std::string::npos) {
      return InvalidArgument("svm: a label is empty or has a line break: '" + e.label + "'");
    }
    labels.insert(e.label);
  }
  if (labels.size() < 2) return InvalidArgument("svm: training needs at least two labels");
  return OkStatus();
}

// Tokens in >= kMinDocumentFrequency texts, ascending, with a smoothed idf.
Vocabulary BuildVocabulary(const std::vector<std::vector<std::string>>& docs) {
  std::map<std::string_view, int> df;
  std::unordered_set<std::string_view> in_doc;
  for (const auto& doc : docs) {
    in_doc.clear();
    for (const std::string& token : doc) {
      if (in_doc.insert(token).second) ++df[token];
    }
  }
  Vocabulary vocab;
  vocab.idf.push_back(0);
  const double n = static_cast<double>(docs.size());
  for (const auto& [token, count] : df) {
    if (count < kMinDocumentFrequency) continue;
    vocab.tokens.emplace_back(token);
    vocab.index.emplace(token, static_cast<int>(vocab.tokens.size()));
    vocab.idf.push_back(std::log((1 + n) / (1 + count)) + 1);
  }
  return vocab;
}

ModelPtr Fit(const std::vector<Example>& examples, const std::vector<std::string>& labels,
             const Vocabulary& vocab, const std::vector<std::vector<std::string>>& docs) {
  std::vector<feature_node> nodes;
  std::vector<size_t> starts;
  std::vector<double> y;
  std::vector<int> ids;
  for (size_t i = 0; i < docs.size(); ++i) {
    starts.push_back(nodes.size());
    AppendRow(docs[i], vocab, kBias, ids, nodes);
    const auto label = std::lower_bound(labels.begin(), labels.end(), examples[i].label);
    y.push_back(static_cast<double>(label - labels.begin()));
  }
  std::vector<feature_node*> x;
  for (size_t start : starts) x.push_back(nodes.data() + start);  // nodes no longer grows
  problem prob{};
  prob.l = static_cast<int>(x.size());
  prob.n = static_cast<int>(vocab.tokens.size()) + 1;  // the bias is the last feature
  prob.y = y.data();
  prob.x = x.data();
  prob.bias = kBias;
  parameter param{};
  param.solver_type = L2R_LR;
  param.eps = kTolerance;
  param.C = kCost;
  param.p = 0.1;
  if (check_parameter(&prob, &param) != nullptr) return nullptr;
  static std::once_flag quiet;
  std::call_once(quiet, [] { set_print_string_function(&Silent); });
  return ModelPtr(train(&prob, &param));
}

std::string LabelsText(const std::vector<std::string>& labels) {
  std::string out = std::string(kLabelsMagic) + " " + std::to_string(labels.size()) + "\n";
  for (const std::string& label : labels) out += label + "\n";
  return out;
}

std::string FeaturesText(const Vocabulary& vocab) {
  std::string out = std::string(kFeaturesMagic) + " " + std::to_string(vocab.tokens.size()) + "\n";
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    out += vocab.tokens[i] + ' ';
    AppendNumber(out, vocab.idf[i + 1]);
    out += '\n';
  }
  return out;
}

// ---- Loading ----

// The next field of `rest` (consumed), skipping runs of spaces; empty at the end.
std::string_view NextField(std::string_view& rest) {
  const size_t begin = std::min(rest.find_first_not_of(' '), rest.size());
  rest.remove_prefix(begin);
  const size_t end = std::min(rest.find(' '), rest.size());
  std::string_view field = rest.substr(0, end);
  rest.remove_prefix(end);
  return field;
}

StatusOr<std::vector<std::string>> ReadLabels(const fs::path& path) {
  StatusOr<TextFile> file = TextFile::Read(path);
  if (!file.ok()) return file.status();
  LineReader lines(file->text());
  int count = 0;
  TBMS_RETURN_IF_ERROR(file->Header(kLabelsMagic, kMaxCount, lines, count));
  std::vector<std::string> labels;
  std::string_view line;
  while (lines.Next(line)) {
    if (line.empty()) return file->Error(lines, "empty label");
    labels.emplace_back(line);
  }
  if (static_cast<int>(labels.size()) != count)
    return file->CountMismatch(count, static_cast<int>(labels.size()));
  return labels;
}

StatusOr<Vocabulary> ReadFeatures(const fs::path& path) {
  StatusOr<TextFile> file = TextFile::Read(path);
  if (!file.ok()) return file.status();
  LineReader lines(file->text());
  int count = 0;
  TBMS_RETURN_IF_ERROR(file->Header(kFeaturesMagic, kMaxCount, lines, count));
  Vocabulary vocab;
  vocab.idf.push_back(0);
  std::string_view line;
  while (lines.Next(line)) {
    const std::string_view token = NextField(line);
    double idf = 0;
    if (token.empty() || !ParseFinite(NextField(line), idf) || idf < 0 || !NextField(line).empty()) {
      return file->Error(lines, "expected '<token> <idf>'");
    }
    vocab.tokens.emplace_back(token);
    if (!vocab.index.emplace(token, static_cast<int>(vocab.tokens.size())).second) {
      return file->Error(lines, "token '" + std::string(token) + "' appears twice");
    }
    vocab.idf.push_back(idf);
  }
  const int got = static_cast<int>(vocab.tokens.size());
  if (got != count) return file->CountMismatch(count, got);
  return vocab;
}

// liblinear's solver names, by solver_type (see save_model).
constexpr std::string_view kSolvers[] = {
    "L2R_LR",   "L2R_L2LOSS_SVC_DUAL", "L2R_L2LOSS_SVC", "L2R_L1LOSS_SVC_DUAL",
    "MCSVM_CS", "L1R_L2LOSS_SVC",      "L1R_LR",         "L2R_LR_DUAL"};

// Reads the next line as "<key> <count fields>" into `fields`.
bool HeaderLine(LineReader& lines, std::string_view key, size_t count,
                std::vector<std::string_view>& fields) {
  std::string_view line;
  if (!lines.Next(line) || NextField(line) != key) return false;
  fields.clear();
  for (std::string_view f = NextField(line); !f.empty(); f = NextField(line)) fields.push_back(f);
  return fields.size() == count;
}

// liblinear class labels: distinct numbers in [0, classes).
bool ValidLabels(const std::vector<std::string_view>& fields, int classes) {
  std::vector<bool> used(classes);
  for (std::string_view f : fields) {
    int n = 0;
    if (!ParseNumber(f, n) || n < 0 || n >= classes || used[n]) return false;
    used[n] = true;
  }
  return true;
}

Status CheckWeights(const TextFile& file, LineReader& lines, int rows, int per_row) {
  std::string_view line;
  int got = 0;
  for (; lines.Next(line); ++got) {
    double w = 0;
    for (int j = 0; j < per_row; ++j) {
      if (!ParseFinite(NextField(line), w)) {
        return file.Error(lines, "expected " + std::to_string(per_row) + " finite weights");
      }
    }
    if (!NextField(line).empty()) return file.Error(lines, "more weights than classes");
  }
  if (got != rows) {
    return file.Error("expected " + std::to_string(rows) + " weight rows after 'w', found " +
                      std::to_string(got));
  }
  return OkStatus();
}

// Checks svm.model in full, line by line as save_model writes it, before
// liblinear reads it: load_model trusts the counts it reads (a bad one means a
// huge allocation or a crash), leaks its FILE on errors, and does not notice
// truncation inside the last number.
Status CheckModelFile(const fs::path& path, int classes, int features) {
  StatusOr<TextFile> file = TextFile::Read(path);
  if (!file.ok()) return file.status();
  LineReader lines(file->text());
  std::vector<std::string_view> f;
  if (!HeaderLine(lines, "solver_type", 1, f) ||
      std::find(std::begin(kSolvers), std::end(kSolvers), f[0]) == std::end(kSolvers)) {
    return file->Error("not a liblinear classification model (expected 'solver_type <solver>' on line 1)");
  }
  const int per_row = classes == 2 && f[0] != "MCSVM_CS" ? 1 : classes;  // as liblinear's nr_w
  int n = 0;
  if (!HeaderLine(lines, "nr_class", 1, f) || !ParseNumber(f[0], n) || n != classes) {
    return file->Error(lines, "expected 'nr_class " + std::to_string(classes) + "' (the labels in " +
                                  std::string(kLabelsFile) + ")");
  }
  if (!HeaderLine(lines, "label", classes, f) || !ValidLabels(f, classes)) {
    return file->Error(lines, "expected 'label' and " + std::to_string(classes) +
                                  " distinct numbers in [0, " + std::to_string(classes) + ")");
  }
  if (!HeaderLine(lines, "nr_feature", 1, f) || !ParseNumber(f[0], n) || n != features) {
    return file->Error(lines, "expected 'nr_feature " + std::to_string(features) + "' (the tokens in " +
                                  std::string(kFeaturesFile) + ")");
  }
  double bias = 0;
  if (!HeaderLine(lines, "bias", 1, f) || !ParseFinite(f[0], bias)) {
    return file->Error(lines, "expected 'bias <number>'");
  }
  if (!HeaderLine(lines, "w", 0, f)) return file->Error(lines, "expected 'w'");
  return CheckWeights(*file, lines, features + (bias >= 0 ? 1 : 0), per_row);
}

// Scores texts with a loaded liblinear model. Safe for concurrent use: the
// model is immutable after Load, and liblinear's predict functions only read it.
class SvmModel final : public TextModel {
 public:
  static StatusOr<std::unique_ptr<TextModel>> Load(const fs::path& dir);

  std::vector<std::vector<Prediction>> Predict(const std::vector<std::string_view>& texts,
                                               int k) const override;

 private:
  SvmModel(std::vector<std::string> class_labels, Vocabulary vocab, ModelPtr model)
      : class_labels_(std::move(class_labels)), vocab_(std::move(vocab)), model_(std::move(model)) {}
  void Scores(const feature_node* row, std::vector<double>& scores) const;

  // Constant after construction.
  const std::vector<std::string> class_labels_;  // by liblinear class position
  const Vocabulary vocab_;
  const ModelPtr model_;
};

StatusOr<std::unique_ptr<TextModel>> SvmModel::Load(const fs::path& dir) {
  StatusOr<std::vector<std::string>> labels = ReadLabels(dir / kLabelsFile);
  if (!labels.ok()) return labels.status();
  StatusOr<Vocabulary> vocab = ReadFeatures(dir / kFeaturesFile);
  if (!vocab.ok()) return vocab.status();
  const fs::path path = dir / kModelFile;
  const int classes = static_cast<int>(labels->size());
  const int features = static_cast<int>(vocab->tokens.size());
  TBMS_RETURN_IF_ERROR(CheckModelFile(path, classes, features));
  ModelPtr model;
  {
    MutexLock lock(&LocaleMutex());
    model.reset(load_model(path.c_str()));
  }
  // Checked again: the file may have changed since CheckModelFile read it.
  if (model == nullptr || model->nr_class != classes || model->nr_feature != features ||
      model->label == nullptr || check_regression_model(model.get())) {
    return FailedPrecondition(path.string() + ": liblinear cannot load it, or it does not match " +
                              std::string(kLabelsFile) + " and " + std::string(kFeaturesFile));
  }
  std::vector<std::string> class_labels;
  for (int i = 0; i < classes; ++i) {
    if (model->label[i] < 0 || model->label[i] >= classes) {
      return FailedPrecondition(path.string() + ": label out of range");
    }
    class_labels.push_back((*labels)[model->label[i]]);
  }
  return std::unique_ptr<TextModel>(
      new SvmModel(std::move(class_labels), std::move(*vocab), std::move(model)));
}

// Fills `scores` (by liblinear class position) with probabilities.
void SvmModel::Scores(const feature_node* row, std::vector<double>& scores) const {
  scores.assign(model_->nr_class, 0);
  if (check_probability_model(model_.get())) {
    predict_probability(model_.get(), row, scores.data());
    return;
  }
  predict_values(model_.get(), row, scores.data());
  if (model_->nr_class == 2 && model_->param.solver_type != MCSVM_CS) scores[1] = -scores[0];
  Softmax(scores);
}

std::vector<std::vector<Prediction>> SvmModel::Predict(const std::vector<std::string_view>& texts,
                                                       int k) const {
  std::vector<std::vector<Prediction>> out;
  out.reserve(texts.size());
  std::vector<feature_node> row;  // buffers reused across the batch
  std::vector<int> ids, order;
  std::vector<double> scores;
  for (std::string_view text : texts) {
    row.clear();
    AppendRow(Tokenize(text), vocab_, model_->bias, ids, row);
    Scores(row.data(), scores);
    out.push_back(TopK(scores, class_labels_, k, order));
  }
  return out;
}

}  // namespace

Status TrainSvm(const std::vector<Example>& examples, const fs::path& dir) {
  TBMS_RETURN_IF_ERROR(CheckExamples(examples));
  std::set<std::string> label_set;
  for (const Example& e : examples) label_set.insert(e.label);
  const std::vector<std::string> labels(label_set.begin(), label_set.end());
  std::vector<std::vector<std::string>> docs;
  docs.reserve(examples.size());
  for (const Example& e : examples) docs.push_back(Tokenize(e.text));
  const Vocabulary vocab = BuildVocabulary(docs);
  if (vocab.tokens.empty()) return InvalidArgument("svm: no token appears in two training texts");
  const ModelPtr model = Fit(examples, labels, vocab, docs);
  if (model == nullptr) return Internal("svm: liblinear refused the training problem");
  std::error_code ec;
  fs::create_directories(dir, ec);
  TBMS_RETURN_IF_ERROR(WriteText(dir / kLabelsFile, LabelsText(labels)));
  TBMS_RETURN_IF_ERROR(WriteText(dir / kFeaturesFile, FeaturesText(vocab)));
  const fs::path path = dir / kModelFile;
  MutexLock lock(&LocaleMutex());
  if (save_model(path.c_str(), model.get()) != 0) return FailedPrecondition(path.string() + ": cannot write");
  return OkStatus();
}

StatusOr<std::unique_ptr<TextModel>> LoadSvm(const fs::path& dir) { return SvmModel::Load(dir); }

}  // namespace tbms::text
