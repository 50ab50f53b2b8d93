// The GPU path: cuBLAS's sgemm on a device, where CMake found CUDA.
// The CUDA runtime and cuBLAS are loaded with dlopen the first time a GPU
// is asked for, not linked: a server that runs no model on a GPU maps none
// of their hundreds of MB, and the same binary runs where they are absent
// (the container image), answering UNAVAILABLE for gpu:N.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <mutex>

#include "find_symbol.h"
#include "tbms/backends/matrix_product.h"

namespace tbms {
namespace {

// The functions used, looked up by their C names (the runtime's C++ header
// overloads some, so their types are spelled out).
struct CudaApi {
  cudaError_t (*GetDeviceCount)(int*) = nullptr;
  cudaError_t (*SetDevice)(int) = nullptr;
  cudaError_t (*Malloc)(void**, size_t) = nullptr;
  cudaError_t (*Free)(void*) = nullptr;
  cudaError_t (*Memcpy)(void*, const void*, size_t, cudaMemcpyKind) = nullptr;
  const char* (*GetErrorName)(cudaError_t) = nullptr;
  const char* (*GetErrorString)(cudaError_t) = nullptr;
  cudaError_t (*GetPciBusId)(char*, int, int) = nullptr;
  decltype(&cublasCreate_v2) Create = nullptr;
  decltype(&cublasDestroy_v2) Destroy = nullptr;
  decltype(&cublasSgemm_v2) Sgemm = nullptr;
  std::string error;  // why it could not be loaded; empty: loaded
};

void* Open(const char* versioned, const char* plain, std::string* error) {
  if (void* h = dlopen(versioned, RTLD_NOW | RTLD_LOCAL)) return h;
  if (void* h = dlopen(plain, RTLD_NOW | RTLD_LOCAL)) return h;
  *error = "cannot load " + std::string(versioned) + ": " + dlerror();
  return nullptr;
}

constexpr std::string_view kCudaLibraries = "the CUDA libraries";

#define TBMS_SO(name) name ".so." TBMS_STR(TBMS_CUDA_MAJOR)
#define TBMS_STR(x) TBMS_STR2(x)
#define TBMS_STR2(x) #x

const CudaApi& Cuda() {
  static const CudaApi api = [] {
    CudaApi a;
    void* rt = Open(TBMS_SO("libcudart"), "libcudart.so", &a.error);
    void* blas = rt ? Open(TBMS_SO("libcublas"), "libcublas.so", &a.error) : nullptr;
    if (blas == nullptr) return a;
    const bool found = FindSymbol(rt, "cudaGetDeviceCount", &a.GetDeviceCount, kCudaLibraries, &a.error) &&
                       FindSymbol(rt, "cudaSetDevice", &a.SetDevice, kCudaLibraries, &a.error) &&
                       FindSymbol(rt, "cudaMalloc", &a.Malloc, kCudaLibraries, &a.error) &&
                       FindSymbol(rt, "cudaFree", &a.Free, kCudaLibraries, &a.error) &&
                       FindSymbol(rt, "cudaMemcpy", &a.Memcpy, kCudaLibraries, &a.error) &&
                       FindSymbol(rt, "cudaGetErrorName", &a.GetErrorName, kCudaLibraries, &a.error) &&
                       FindSymbol(rt, "cudaGetErrorString", &a.GetErrorString, kCudaLibraries, &a.error) &&
                       FindSymbol(rt, "cudaDeviceGetPCIBusId", &a.GetPciBusId, kCudaLibraries, &a.error) &&
                       FindSymbol(blas, "cublasCreate_v2", &a.Create, kCudaLibraries, &a.error) &&
                       FindSymbol(blas, "cublasDestroy_v2", &a.Destroy, kCudaLibraries, &a.error) &&
                       FindSymbol(blas, "cublasSgemm_v2", &a.Sgemm, kCudaLibraries, &a.error);
    if (!found) a.GetDeviceCount = nullptr;  // half a runtime is none
    return a;
  }();
  return api;
}

std::string CudaError(cudaError_t e) {
  return std::string(Cuda().GetErrorName(e)) + ": " + Cuda().GetErrorString(e);
}

// Device memory that frees itself; grows, never shrinks.
class DeviceBuffer {
 public:
  ~DeviceBuffer() {
    if (ptr_ != nullptr) Cuda().Free(ptr_);
  }
  Status Reserve(size_t floats) {
    if (floats <= size_) return OkStatus();
    if (ptr_ != nullptr) Cuda().Free(ptr_);
    ptr_ = nullptr;
    size_ = 0;
    if (cudaError_t e = Cuda().Malloc(&ptr_, floats * sizeof(float)); e != cudaSuccess) {
      return ResourceExhausted("cudaMalloc of " + std::to_string(floats * sizeof(float)) + " bytes: " + CudaError(e));
    }
    size_ = floats;
    return OkStatus();
  }
  float* get() const { return static_cast<float*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

class GpuProduct final : public MatrixProduct {
 public:
  GpuProduct(int rows, int dim, int index) : rows_(rows), dim_(dim), index_(index) {}
  ~GpuProduct() override {
    if (handle_ != nullptr) Cuda().Destroy(handle_);
  }

  Status Init(const float* matrix) {
    if (cudaError_t e = Cuda().SetDevice(index_); e != cudaSuccess) return Unavailable(Name() + ": " + CudaError(e));
    if (Cuda().Create(&handle_) != CUBLAS_STATUS_SUCCESS) return Unavailable(Name() + ": cublasCreate failed");
    TBMS_RETURN_IF_ERROR(matrix_.Reserve(static_cast<size_t>(rows_) * dim_));
    return Copy(matrix_.get(), matrix, static_cast<size_t>(rows_) * dim_, cudaMemcpyHostToDevice);
  }

  // Row-major S (b x rows) is column-major S^T (rows x b) = M (rows x dim) Q^T:
  // row-major M is column-major M^T (dim x rows), hence OP_T on it.
  Status Multiply(const float* q, int b, float* scores) const override {
    std::lock_guard<std::mutex> lock(mu_);
    if (cudaError_t e = Cuda().SetDevice(index_); e != cudaSuccess) return Unavailable(Name() + ": " + CudaError(e));
    TBMS_RETURN_IF_ERROR(queries_.Reserve(static_cast<size_t>(b) * dim_));
    TBMS_RETURN_IF_ERROR(scores_.Reserve(static_cast<size_t>(b) * rows_));
    TBMS_RETURN_IF_ERROR(Copy(queries_.get(), q, static_cast<size_t>(b) * dim_, cudaMemcpyHostToDevice));
    const float one = 1, zero = 0;
    if (Cuda().Sgemm(handle_, CUBLAS_OP_T, CUBLAS_OP_N, rows_, b, dim_, &one, matrix_.get(), dim_, queries_.get(), dim_,
                    &zero, scores_.get(), rows_) != CUBLAS_STATUS_SUCCESS) {
      return Unavailable(Name() + ": cublasSgemm failed");
    }
    return Copy(scores, scores_.get(), static_cast<size_t>(b) * rows_, cudaMemcpyDeviceToHost);
  }
  std::string device() const override { return Name(); }

 private:
  std::string Name() const { return "gpu:" + std::to_string(index_); }
  Status Copy(float* to, const float* from, size_t floats, cudaMemcpyKind kind) const {
    if (cudaError_t e = Cuda().Memcpy(to, from, floats * sizeof(float), kind); e != cudaSuccess) {
      return Unavailable(Name() + ": cudaMemcpy: " + CudaError(e));
    }
    return OkStatus();
  }

  const int rows_, dim_, index_;
  cublasHandle_t handle_ = nullptr;
  DeviceBuffer matrix_;
  mutable std::mutex mu_;  // one stream: products run one at a time
  mutable DeviceBuffer queries_, scores_;
};

}  // namespace

int CudaDevices(std::string* why_none) {
  if (Cuda().GetDeviceCount == nullptr) {
    if (why_none != nullptr) *why_none = "no CUDA runtime (" + Cuda().error + ")";
    return 0;
  }
  int n = 0;
  if (cudaError_t e = Cuda().GetDeviceCount(&n); e != cudaSuccess) {
    if (why_none != nullptr) *why_none = "no CUDA device (" + CudaError(e) + ")";
    return 0;
  }
  if (n == 0 && why_none != nullptr) *why_none = "no CUDA device";
  return n;
}

std::string CudaPciBusId(int index) {
  if (Cuda().GetDeviceCount == nullptr) return {};
  char id[32] = {};  // "dddd:bb:dd.f" and its NUL
  return Cuda().GetPciBusId(id, sizeof id, index) == cudaSuccess ? std::string(id) : std::string();
}

StatusOr<std::unique_ptr<MatrixProduct>> GpuMatrixProduct(const float* matrix, int rows, int dim, int index) {
  if (rows < 1 || dim < 1) return InvalidArgument("matrix product: rows and dim must be >= 1");
  std::string why;
  const int devices = CudaDevices(&why);
  if (index < 0 || index >= devices) {
    return Unavailable("gpu:" + std::to_string(index) + ": " + (devices == 0 ? why : std::to_string(devices) +
                                                                                         " CUDA device(s) here"));
  }
  auto product = std::make_unique<GpuProduct>(rows, dim, index);
  TBMS_RETURN_IF_ERROR(product->Init(matrix));
  return std::unique_ptr<MatrixProduct>(std::move(product));
}

}  // namespace tbms
