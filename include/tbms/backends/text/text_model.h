// Text models for the demo house: four real backends that answer the same
// question — which label fits this text — at different quality and cost:
// keysearch (BM25 retrieval, Xapian), bayes (multinomial naive Bayes),
// svm (linear SVM over TF-IDF, liblinear) and embedding (fastText vectors,
// nearest neighbours by one batched matrix product, OpenBLAS).
//
// Each trains from labelled examples into a version folder (its artifacts
// in the library's own format where there is one), loads from it with clear
// errors for missing or corrupt files, and answers whole batches. Predict is
// safe for concurrent use (replicas share one loaded model).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/backends/matrix_product.h"
#include "tbms/backends/thread_pool_executor.h"
#include "tbms/common/status.h"

namespace tbms::text {

struct Example {
  std::string text;    // what a question looks like
  std::string label;   // the answer to learn
  std::string detail;  // shown with a retrieved answer (e.g. "dog: a domesticated canine"); may be empty
};

struct Prediction {
  std::string label;
  double score = 0;     // higher is better; in [0, 1] where the model gives a probability
  std::string detail;   // retrieval models: the matched example's detail
};

class TextModel : public Backend {
 public:
  // The k best labels for each text, best first (fewer if the model knows fewer).
  virtual std::vector<std::vector<Prediction>> Predict(const std::vector<std::string_view>& texts,
                                                       int k) const = 0;
  // One answer per item: {"answer": label, "score": s, "detail"?: ..., "top": [{"answer", "score"}, ...5]};
  // INVALID_ARGUMENT for an empty question; SkippedTryOver() for an item
  // whose try ended before its turn came.
  std::vector<StatusOr<Answer>> Process(const Batch& batch) override;
  // How many items one Predict call takes. A model that answers item by
  // item takes one, so Process checks before each item whether anyone still
  // waits for it; one that computes a batch at once (a matrix product) takes all.
  virtual size_t items_per_predict() const { return SIZE_MAX; }
};

// Lower-cased word tokens (letters and digits; other bytes split words).
std::vector<std::string> Tokenize(std::string_view text);

// Training writes the model's files into `dir` (created if missing); loading
// reads them back. Loading fails with FAILED_PRECONDITION naming the file
// for a missing or corrupt artifact.
Status TrainBayes(const std::vector<Example>& examples, const std::filesystem::path& dir);
StatusOr<std::unique_ptr<TextModel>> LoadBayes(const std::filesystem::path& dir);

Status TrainSvm(const std::vector<Example>& examples, const std::filesystem::path& dir);
StatusOr<std::unique_ptr<TextModel>> LoadSvm(const std::filesystem::path& dir);

Status TrainKeysearch(const std::vector<Example>& examples, const std::filesystem::path& dir);
StatusOr<std::unique_ptr<TextModel>> LoadKeysearch(const std::filesystem::path& dir);

Status TrainEmbedding(const std::vector<Example>& examples, const std::filesystem::path& dir);
StatusOr<std::unique_ptr<TextModel>> LoadEmbedding(const std::filesystem::path& dir);
// On `device` (cpu, gpu, gpu:N): on a GPU its matrix product runs with
// cuBLAS (tbms/backends/matrix_product.h); FAILED_PRECONDITION when the
// build or the machine has no such GPU.
StatusOr<std::unique_ptr<TextModel>> LoadEmbeddingOn(const std::filesystem::path& dir, std::string_view device);
// As LoadEmbeddingOn a GPU, with the GPU's product made by `gpu_product`
// from the loaded matrix (null: on the CPU only). Tests give one that fails.
using ProductFactory =
    std::function<StatusOr<std::unique_ptr<MatrixProduct>>(const float* matrix, int rows, int dim)>;
StatusOr<std::unique_ptr<TextModel>> LoadEmbeddingWith(const std::filesystem::path& dir,
                                                       const ProductFactory& gpu_product);

}  // namespace tbms::text
