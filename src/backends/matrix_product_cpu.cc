#include <cblas.h>

#include "tbms/backends/matrix_product.h"

namespace tbms {
namespace {

class CpuProduct final : public MatrixProduct {
 public:
  CpuProduct(const float* matrix, int rows, int dim) : matrix_(matrix), rows_(rows), dim_(dim) {}
  Status Multiply(const float* q, int b, float* scores) const override {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, b, rows_, dim_, 1.0f, q, dim_, matrix_, dim_, 0.0f,
                scores, rows_);
    return OkStatus();
  }
  std::string device() const override { return "cpu"; }

 private:
  const float* const matrix_;  // borrowed
  const int rows_, dim_;
};

}  // namespace

StatusOr<std::unique_ptr<MatrixProduct>> CpuMatrixProduct(const float* matrix, int rows, int dim) {
  if (rows < 1 || dim < 1) return InvalidArgument("matrix product: rows and dim must be >= 1");
  return std::unique_ptr<MatrixProduct>(new CpuProduct(matrix, rows, dim));
}

}  // namespace tbms
