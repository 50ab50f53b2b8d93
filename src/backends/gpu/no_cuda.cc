// The GPU path of a build where CMake found no CUDA toolkit.
#include "tbms/backends/matrix_product.h"

namespace tbms {

int CudaDevices(std::string* why_none) {
  if (why_none != nullptr) *why_none = "this build has no CUDA (CMake found no CUDA toolkit)";
  return 0;
}

std::string CudaPciBusId(int) { return {}; }

StatusOr<std::unique_ptr<MatrixProduct>> GpuMatrixProduct(const float*, int, int, int index) {
  return Unavailable("gpu:" + std::to_string(index) + ": this build has no CUDA (CMake found no CUDA toolkit)");
}

}  // namespace tbms
