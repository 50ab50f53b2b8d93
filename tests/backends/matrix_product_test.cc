// The embedding's matrix product on the CPU, and on a GPU where there is
// one: equal within float tolerance, and the batch time per size measured.
// Without a GPU (or a CUDA build) the GPU tests skip and say why.
#include "tbms/backends/matrix_product.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

namespace tbms {
namespace {

std::vector<float> Random(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

TEST(CpuMatrixProduct, MultipliesByTheTranspose) {
  const float m[] = {1, 0, 0, 1, 2, 3};  // 3 rows x 2
  auto p = CpuMatrixProduct(m, 3, 2);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)->device(), "cpu");
  const float q[] = {1, 2, -1, 0};  // 2 queries
  float s[6];
  ASSERT_TRUE((*p)->Multiply(q, 2, s).ok());
  EXPECT_EQ(std::vector<float>(s, s + 6), (std::vector<float>{1, 2, 8, -1, 0, -2}));
  EXPECT_EQ(CpuMatrixProduct(m, 0, 2).status().code(), StatusCode::kInvalidArgument);
}

TEST(GpuMatrixProduct, WithoutADeviceSaysWhy) {
  std::string why;
  if (CudaDevices(&why) > 0) GTEST_SKIP() << "this machine has a CUDA device";
  const float m[] = {1, 2};
  auto p = GpuMatrixProduct(m, 1, 2, 0);
  EXPECT_EQ(p.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(p.status().message().find("gpu:0: "), std::string::npos) << p.status().message();
  EXPECT_FALSE(why.empty());
}

TEST(GpuMatrixProduct, EqualsTheCpuAndIsTimedPerBatchSize) {
  std::string why;
  if (CudaDevices(&why) == 0) GTEST_SKIP() << "GPU test skipped: " << why;
  constexpr int kRows = 20000, kDim = 128, kMaxBatch = 64;
  const std::vector<float> m = Random(size_t(kRows) * kDim, 1);
  auto cpu = CpuMatrixProduct(m.data(), kRows, kDim);
  auto gpu = GpuMatrixProduct(m.data(), kRows, kDim, 0);
  ASSERT_TRUE(cpu.ok() && gpu.ok()) << gpu.status().message();
  EXPECT_EQ((*gpu)->device(), "gpu:0");
  std::vector<float> want(size_t(kMaxBatch) * kRows), got(want.size());
  for (int b : {1, 2, 4, 8, 16, 32, 64}) {
    const std::vector<float> q = Random(size_t(b) * kDim, 100 + b);
    ASSERT_TRUE((*cpu)->Multiply(q.data(), b, want.data()).ok());
    ASSERT_TRUE((*gpu)->Multiply(q.data(), b, got.data()).ok());  // also the warm-up
    for (size_t i = 0; i < size_t(b) * kRows; ++i) ASSERT_NEAR(got[i], want[i], 1e-3) << "batch " << b << " at " << i;
    // Measured, not asserted: docs/benchmarks.md records these.
    auto time = [&](const MatrixProduct& p, float* out) {
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 20; ++i) EXPECT_TRUE(p.Multiply(q.data(), b, out).ok());
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / 20;
    };
    const double cpu_ms = time(**cpu, want.data()), gpu_ms = time(**gpu, got.data());
    std::printf("matrix product %d x %d, batch %2d: cpu %.3f ms, gpu %.3f ms\n", kRows, kDim, b, cpu_ms, gpu_ms);
  }
}

}  // namespace
}  // namespace tbms
