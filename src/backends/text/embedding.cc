// Embedding: fastText sentence vectors, answered by the labels of the nearest
// training examples (cosine similarity), found for a whole batch with one
// matrix product (OpenBLAS).
//
// Artifacts in the version folder:
//   embedding.bin  the fastText model (supervised on the labels, 64 dimensions,
//                  subwords), in fastText's own format (~37 MB for the
//                  demo's 90k texts, 25 MB of it hashed subword rows);
//   vectors.f32    the training examples' L2-normalised sentence vectors:
//                  "TBMSVEC1", uint64 rows, uint64 dim (host byte order,
//                  little-endian on the machines we run), then rows x dim
//                  float32, row-major;
//   labels.txt     one line per row: label '\t' detail (detail escaped:
//                  "\\" "\n" "\r").
#include <cblas.h>
#include <fasttext/fasttext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <exception>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <system_error>
#include <utility>

#include "tbms/backends/matrix_product.h"
#include "tbms/backends/text/text_model.h"
#include "tbms/common/mutex.h"

namespace tbms::text {
namespace {

constexpr char kModelFile[] = "embedding.bin";
constexpr char kVectorsFile[] = "vectors.f32";
constexpr char kLabelsFile[] = "labels.txt";
constexpr char kTrainFile[] = "train.txt.tmp";
constexpr char kMagic[8] = {'T', 'B', 'M', 'S', 'V', 'E', 'C', '1'};
constexpr size_t kHeaderBytes = sizeof(kMagic) + 2 * sizeof(uint64_t);
constexpr int kNeighbours = 10;  // nearest examples that vote per question

// The words fastText sees: ours, lower-cased, one space apart (fastText
// itself splits on white space only and keeps case and punctuation).
std::string FastTextLine(std::string_view text) {
  std::string line;
  for (const std::string& w : Tokenize(text)) {
    if (!line.empty()) line += ' ';
    line += w;
  }
  return line;
}

void Normalize(float* v, int dim) {
  double sq = 0;
  for (int j = 0; j < dim; ++j) sq += static_cast<double>(v[j]) * v[j];
  if (sq <= 0) return;  // no known word or subword: stays zero, matches nothing
  const auto inv = static_cast<float>(1.0 / std::sqrt(sq));
  for (int j = 0; j < dim; ++j) v[j] *= inv;
}

// Writes the normalised sentence vector of `text` to out[0, dim).
// getSentenceVector is not const: callers serialise calls on a shared model.
void SentenceVector(fasttext::FastText& ft, std::string_view text, float* out, int dim) {
  std::istringstream in(FastTextLine(text) + '\n');
  fasttext::Vector v(dim);
  ft.getSentenceVector(in, v);
  std::copy(v.data(), v.data() + dim, out);
  Normalize(out, dim);
}

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out;
}

std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    const char c = s[++i];
    out += c == 'n' ? '\n' : c == 'r' ? '\r' : c;
  }
  return out;
}

Status WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) return Internal("embedding: cannot write " + path.string());
  return OkStatus();
}

StatusOr<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return FailedPrecondition("embedding: cannot read " + path.string());
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return FailedPrecondition("embedding: cannot read " + path.string());
  return bytes.str();
}

// Everything a loaded model holds.
struct Loaded {
  std::unique_ptr<fasttext::FastText> ft;
  int dim = 0;
  size_t rows = 0;
  std::vector<float> matrix;  // rows x dim, row-major, unit rows
  std::vector<std::string> labels, details;
};

// Loaded model. Safe for concurrent use: the fastText model is only read
// through getSentenceVector, which fastText declares non-const (no promise
// of thread safety; in 0.9.2 it happens to only read), so
// those calls are serialised by ft_mu_ — they take microseconds per text.
// The matrix product, the heavy part, runs outside the lock on data that is
// constant after construction.
class EmbeddingModel final : public TextModel {
 public:
  // `cpu` reads m's matrix, whose buffer moving m keeps where it is.
  EmbeddingModel(Loaded m, std::unique_ptr<MatrixProduct> cpu, std::unique_ptr<MatrixProduct> gpu)
      : ft_(std::move(m.ft)), m_(std::move(m)), cpu_(std::move(cpu)), gpu_(std::move(gpu)) {}

  std::vector<std::vector<Prediction>> Predict(const std::vector<std::string_view>& texts,
                                               int k) const override {
    const int b = static_cast<int>(texts.size());
    const int dim = m_.dim;
    const auto n = static_cast<int>(m_.rows);
    std::vector<std::vector<Prediction>> out(texts.size());
    if (b == 0) return out;
    std::vector<float> q(static_cast<size_t>(b) * dim);
    {
      MutexLock lock(&ft_mu_);
      for (int i = 0; i < b; ++i) SentenceVector(*ft_, texts[i], &q[size_t(i) * dim], dim);
    }
    // Scores = Q (b x dim) * M^T (dim x n), one GEMM for the whole batch.
    // The buffer is per thread (each replica is a thread) and only grows,
    // so a busy replica does not fault in fresh pages on every batch.
    thread_local std::vector<float> scores;
    scores.resize(static_cast<size_t>(b) * n);
    // On its GPU if it has one; a product the GPU fails is done here, and
    // the failure is kept for the executor, which drains the device.
    if (gpu_ == nullptr) {
      (void)cpu_->Multiply(q.data(), b, scores.data());  // the CPU product cannot fail
    } else if (Status s = gpu_->Multiply(q.data(), b, scores.data()); !s.ok()) {
      (void)cpu_->Multiply(q.data(), b, scores.data());
      MutexLock lock(&failure_mu_);
      failure_ = Status(s.code(), gpu_->device() + ": " + s.message());
    }
    for (int i = 0; i < b; ++i) out[i] = Vote(&scores[size_t(i) * n], k);
    return out;
  }

 private:
  // The k labels with the most cosine similarity among the nearest
  // examples, best first; each label's detail is that of its nearest example.
  std::vector<Prediction> Vote(const float* row, int k) const {
    // The kNeighbours best (score, row) pairs, best first; ties keep the
    // lower row. One pass over the row, no allocation.
    std::pair<float, int> best[kNeighbours];
    int found = 0;
    for (int j = 0; j < static_cast<int>(m_.rows); ++j) {
      const float s = row[j];
      if (found == kNeighbours && !(s > best[found - 1].first)) continue;
      int at = found < kNeighbours ? found++ : kNeighbours - 1;
      while (at > 0 && s > best[at - 1].first) {
        best[at] = best[at - 1];
        --at;
      }
      best[at] = {s, j};
    }
    struct Tally {
      double weight = 0;
      int first = 0;  // position of the label's nearest example
    };
    std::map<std::string_view, Tally> tallies;
    double total = 0;
    for (int r = 0; r < found; ++r) {
      const double w = std::max(0.0f, best[r].first);
      if (w <= 0) break;  // sorted: the rest point away too
      auto [slot, inserted] = tallies.try_emplace(m_.labels[best[r].second]);
      if (inserted) slot->second.first = r;
      slot->second.weight += w;
      total += w;
    }
    std::vector<std::pair<std::string_view, Tally>> ranked(tallies.begin(), tallies.end());
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      if (a.second.weight != b.second.weight) return a.second.weight > b.second.weight;
      return a.second.first < b.second.first;
    });
    if (static_cast<int>(ranked.size()) > k) ranked.resize(std::max(k, 0));
    std::vector<Prediction> preds;
    preds.reserve(ranked.size());
    for (const auto& [label, t] : ranked) {
      preds.push_back({std::string(label), t.weight / total, m_.details[best[t.first].second]});
    }
    return preds;
  }

  Status TakeDeviceFailure() override {
    MutexLock lock(&failure_mu_);
    return std::exchange(failure_, OkStatus());
  }

  mutable Mutex failure_mu_;
  mutable Status failure_ GUARDED_BY(failure_mu_);  // the GPU's last failure, not yet taken
  mutable Mutex ft_mu_;  // serialises getSentenceVector on *ft_
  // Out of m_ so that the analysis checks ft_mu_ is held; before m_, which
  // is moved from the Loaded it came in.
  const std::unique_ptr<fasttext::FastText> ft_ PT_GUARDED_BY(ft_mu_);
  // Constant after construction (its ft is null: moved to ft_).
  const Loaded m_;
  const std::unique_ptr<MatrixProduct> cpu_;  // over m_.matrix
  const std::unique_ptr<MatrixProduct> gpu_;  // null: the product runs on the CPU
};

// The replicas are the parallelism: one OpenBLAS thread per GEMM call.
void UseOneBlasThread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

Status CheckVectorsHeader(const std::string& bytes, const std::string& name, int dim,
                          size_t& rows) {
  if (bytes.size() < kHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return FailedPrecondition("embedding: " + name + " is not a vectors file");
  }
  uint64_t r = 0, d = 0;
  std::memcpy(&r, bytes.data() + sizeof(kMagic), sizeof(r));
  std::memcpy(&d, bytes.data() + sizeof(kMagic) + sizeof(r), sizeof(d));
  if (d != static_cast<uint64_t>(dim)) {
    return FailedPrecondition("embedding: " + name + " has dimension " + std::to_string(d) +
                              ", the model " + std::to_string(dim));
  }
  const uint64_t payload = bytes.size() - kHeaderBytes;
  if (r == 0 || r > payload / (d * sizeof(float)) || r * d * sizeof(float) != payload ||
      r > static_cast<uint64_t>(std::numeric_limits<int>::max())) {
    return FailedPrecondition("embedding: " + name + " is truncated or has a wrong size (" +
                              std::to_string(r) + " rows x " + std::to_string(d) + " in " +
                              std::to_string(bytes.size()) + " bytes)");
  }
  rows = static_cast<size_t>(r);
  return OkStatus();
}

Status LoadFastText(const std::filesystem::path& path, Loaded& m) {
  const std::string name = path.string();
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return FailedPrecondition("embedding: missing model file " + name);
  m.ft = std::make_unique<fasttext::FastText>();
  try {
    m.ft->loadModel(name);
    if (m.ft->isQuant()) return FailedPrecondition("embedding: " + name + " is a quantized fastText model");
    // fastText does not check its stream while loading: a truncated file
    // loads with zeros. Its two matrices must fit in the file.
    const auto in = m.ft->getInputMatrix();
    const auto out = m.ft->getOutputMatrix();
    const uint64_t floats = uint64_t(in->rows()) * in->cols() + uint64_t(out->rows()) * out->cols();
    if (floats * sizeof(float) > size) {
      return FailedPrecondition("embedding: " + name + " is truncated");
    }
    m.dim = m.ft->getDimension();
  } catch (const std::exception& e) {  // std::invalid_argument on a bad file, bad_alloc...
    return FailedPrecondition("embedding: cannot load " + name + ": " + e.what());
  }
  if (m.dim <= 0 || m.dim > 4096) {
    return FailedPrecondition("embedding: " + name + " has dimension " + std::to_string(m.dim));
  }
  return OkStatus();
}

}  // namespace

Status TrainEmbedding(const std::vector<Example>& examples, const std::filesystem::path& dir) {
  if (examples.empty()) return InvalidArgument("embedding: no examples to train on");
  for (const Example& e : examples) {
    if (e.label.empty() || e.label.find_first_of("\t\r\n") != std::string::npos) {
      return InvalidArgument("embedding: labels must be non-empty, without tabs or line breaks");
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("embedding: cannot create " + dir.string() + ": " + ec.message());

  // fastText trains from a file.
  const std::filesystem::path train_path = dir / kTrainFile;
  std::string corpus;
  for (const Example& e : examples) {
    std::string label = e.label;
    std::replace(label.begin(), label.end(), ' ', '_');
    corpus += "__label__" + label + ' ' + FastTextLine(e.text) + '\n';
  }
  TBMS_RETURN_IF_ERROR(WriteFile(train_path, corpus));
  corpus = {};

  fasttext::FastText ft;
  fasttext::Args args;
  args.input = train_path.string();
  // Supervised: the vectors are trained so that texts of one label lie
  // together, which nearest neighbours then exploit (unsupervised cbow
  // vectors reached 0.42 top-1 on the demo task; these reach more, see
  // docs/quality.md). Labels with spaces are fine: fastText splits on them,
  // so they are written with '_' and only used for training.
  args.model = fasttext::model_name::sup;
  args.loss = fasttext::loss_name::softmax;
  args.lr = 0.5;
  args.dim = 64;
  args.epoch = 10;
  args.minCount = 2;
  args.thread = 2;
  args.minn = 3;  // subwords let misspelt and unseen words land near their kin
  args.maxn = 6;
  args.bucket = 100000;  // hashed subword rows (default 2M): 25 MB of embedding.bin at dim 64
  args.verbose = 0;
  const std::filesystem::path model_path = dir / kModelFile;
  try {
    ft.train(args);
    ft.saveModel(model_path.string());
  } catch (const std::invalid_argument& e) {  // e.g. "Empty vocabulary"
    std::filesystem::remove(train_path, ec);
    return InvalidArgument(std::string("embedding: fastText: ") + e.what());
  } catch (const std::exception& e) {
    std::filesystem::remove(train_path, ec);
    return Internal(std::string("embedding: fastText: ") + e.what());
  }
  std::filesystem::remove(train_path, ec);

  const int dim = ft.getDimension();
  const uint64_t rows = examples.size(), d = dim;
  std::string vectors(kHeaderBytes + rows * d * sizeof(float), '\0');
  std::memcpy(vectors.data(), kMagic, sizeof(kMagic));
  std::memcpy(vectors.data() + sizeof(kMagic), &rows, sizeof(rows));
  std::memcpy(vectors.data() + sizeof(kMagic) + sizeof(rows), &d, sizeof(d));
  std::vector<float> v(dim);
  std::string labels;
  for (size_t i = 0; i < examples.size(); ++i) {
    SentenceVector(ft, examples[i].text, v.data(), dim);
    std::memcpy(vectors.data() + kHeaderBytes + i * d * sizeof(float), v.data(),
                d * sizeof(float));
    labels += examples[i].label + '\t' + Escape(examples[i].detail) + '\n';
  }
  TBMS_RETURN_IF_ERROR(WriteFile(dir / kVectorsFile, vectors));
  return WriteFile(dir / kLabelsFile, labels);
}

StatusOr<std::unique_ptr<TextModel>> LoadEmbedding(const std::filesystem::path& dir) {
  return LoadEmbeddingOn(dir, "cpu");
}

StatusOr<std::unique_ptr<TextModel>> LoadEmbeddingOn(const std::filesystem::path& dir, std::string_view device) {
  if (!device.starts_with("gpu")) return LoadEmbeddingWith(dir, nullptr);
  const int index = device == "gpu" ? 0 : std::stoi(std::string(device.substr(4)));  // the house checked gpu or gpu:N
  return LoadEmbeddingWith(dir, [&](const float* matrix, int rows, int dim) -> StatusOr<std::unique_ptr<MatrixProduct>> {
    auto product = GpuMatrixProduct(matrix, rows, dim, index);
    if (!product.ok()) return FailedPrecondition("embedding on " + std::string(device) + ": " + product.status().message());
    return product;
  });
}

StatusOr<std::unique_ptr<TextModel>> LoadEmbeddingWith(const std::filesystem::path& dir, const ProductFactory& gpu_product) {
  Loaded m;
  TBMS_RETURN_IF_ERROR(LoadFastText(dir / kModelFile, m));

  const std::string vectors_name = (dir / kVectorsFile).string();
  StatusOr<std::string> vectors = ReadFile(dir / kVectorsFile);
  if (!vectors.ok()) return vectors.status();
  TBMS_RETURN_IF_ERROR(CheckVectorsHeader(*vectors, vectors_name, m.dim, m.rows));
  m.matrix.resize(m.rows * m.dim);
  std::memcpy(m.matrix.data(), vectors->data() + kHeaderBytes, m.matrix.size() * sizeof(float));
  vectors = std::string();
  for (float x : m.matrix) {
    if (!std::isfinite(x) || std::abs(x) > 1.0001f) {
      return FailedPrecondition("embedding: " + vectors_name + " holds a value that is not a "
                                "unit vector's coordinate");
    }
  }

  const std::string labels_name = (dir / kLabelsFile).string();
  StatusOr<std::string> labels = ReadFile(dir / kLabelsFile);
  if (!labels.ok()) return labels.status();
  std::string_view rest = *labels;
  while (!rest.empty()) {
    const size_t eol = rest.find('\n');
    if (eol == std::string_view::npos) {
      return FailedPrecondition("embedding: " + labels_name + " is truncated (no final newline)");
    }
    const std::string_view line = rest.substr(0, eol);
    rest.remove_prefix(eol + 1);
    const size_t tab = line.find('\t');
    if (tab == 0 || tab == std::string_view::npos) {
      return FailedPrecondition("embedding: " + labels_name + " line " +
                                std::to_string(m.labels.size() + 1) + " is not label<TAB>detail");
    }
    m.labels.emplace_back(line.substr(0, tab));
    m.details.push_back(Unescape(line.substr(tab + 1)));
  }
  if (m.labels.size() != m.rows) {
    return FailedPrecondition("embedding: " + labels_name + " has " +
                              std::to_string(m.labels.size()) + " rows, " + vectors_name + " " +
                              std::to_string(m.rows));
  }
  UseOneBlasThread();
  auto cpu = CpuMatrixProduct(m.matrix.data(), static_cast<int>(m.rows), m.dim);
  if (!cpu.ok()) return FailedPrecondition("embedding: " + cpu.status().message());
  std::unique_ptr<MatrixProduct> gpu;
  if (gpu_product) {
    auto product = gpu_product(m.matrix.data(), static_cast<int>(m.rows), m.dim);
    if (!product.ok()) return product.status();
    gpu = std::move(product).value();
  }
  return std::unique_ptr<TextModel>(new EmbeddingModel(std::move(m), std::move(cpu).value(), std::move(gpu)));
}

}  // namespace tbms::text
