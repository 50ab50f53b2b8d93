// MatrixProduct: S = Q x M^T for a fixed matrix M (rows x dim, row-major),
// the one product per batch of the embedding backend's nearest neighbours
// (Q: a batch of b query vectors; S: b x rows scores). On the CPU with BLAS
// (OpenBLAS's sgemm), or on a GPU with cuBLAS where CUDA was found at build
// time: M is copied to the device once, each product moves Q there and S
// back. Thread-safe: replicas (threads) call Multiply concurrently; the GPU
// path serialises them on its one stream.
#pragma once

#include <memory>
#include <string>

#include "tbms/common/status.h"

namespace tbms {

class MatrixProduct {
 public:
  virtual ~MatrixProduct() = default;
  // `q`: b x dim, row-major; `scores`: room for b x rows, row-major.
  virtual Status Multiply(const float* q, int b, float* scores) const = 0;
  virtual std::string device() const = 0;  // "cpu", "gpu:0", ...
};

// `matrix` is borrowed: it must outlive the product. INVALID_ARGUMENT for rows or dim < 1.
StatusOr<std::unique_ptr<MatrixProduct>> CpuMatrixProduct(const float* matrix, int rows, int dim);
// `matrix` is copied to the device. UNAVAILABLE when this build has no
// CUDA, or there is no device `index` (the message says which);
// RESOURCE_EXHAUSTED when M does not fit its memory.
StatusOr<std::unique_ptr<MatrixProduct>> GpuMatrixProduct(const float* matrix, int rows, int dim, int index);

// The CUDA devices this process sees (0 without CUDA or a driver), and why
// none: for messages and for tests that skip.
int CudaDevices(std::string* why_none = nullptr);
// CUDA device `index`'s PCI bus id ("0000:3b:00.0"); empty without CUDA, a
// driver or the device. How NVML finds the same GPU (gpu_telemetry.h).
std::string CudaPciBusId(int index);

}  // namespace tbms
