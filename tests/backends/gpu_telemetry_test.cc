// GpuTelemetry against a stand-in NVML (fake_nvml.cc: gpu 0 at 37%, 1 GiB
// of 80 used; gpu 1 at 90%, 70 GiB), and where NVML cannot be loaded.
#include "tbms/backends/gpu_telemetry.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

namespace tbms {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

// The fake's own controls, from the same loaded copy GpuTelemetry uses.
struct FakeNvml {
  FakeNvml() : library(dlopen(TBMS_FAKE_NVML, RTLD_NOW | RTLD_LOCAL)) {
    fail_init = reinterpret_cast<void (*)(int)>(dlsym(library, "fake_nvml_fail_init"));
    live = reinterpret_cast<int (*)()>(dlsym(library, "fake_nvml_live"));
  }
  ~FakeNvml() {
    fail_init(0);
    dlclose(library);
  }
  void* library;
  void (*fail_init)(int);
  int (*live)();
};

TEST(GpuTelemetry, ReadsEachGpusUtilisationAndMemory) {
  auto gpus = GpuTelemetry::Load(TBMS_FAKE_NVML);
  ASSERT_TRUE(gpus.ok()) << gpus.status().message();
  auto first = (*gpus)->Read(0);
  ASSERT_TRUE(first.ok()) << first.status().message();
  EXPECT_DOUBLE_EQ(first->utilization, 0.37);
  EXPECT_EQ(first->memory_used, 1 * kGiB);
  EXPECT_EQ(first->memory_total, 80 * kGiB);
  auto second = (*gpus)->Read(1);
  ASSERT_TRUE(second.ok());
  EXPECT_DOUBLE_EQ(second->utilization, 0.90);
  EXPECT_EQ(second->memory_used, 70 * kGiB);
}

TEST(GpuTelemetry, AGpuThatIsNotThereIsNotFound) {
  auto gpus = GpuTelemetry::Load(TBMS_FAKE_NVML);
  ASSERT_TRUE(gpus.ok());
  for (int index : {2, -1}) {
    auto r = (*gpus)->Read(index);
    EXPECT_EQ(r.status().code(), StatusCode::kNotFound) << index;
    EXPECT_NE(r.status().message().find("gpu " + std::to_string(index) + ": no such GPU"), std::string::npos)
        << r.status().message();
  }
}

TEST(GpuTelemetry, ShutsNvmlDownWhenDestroyed) {
  FakeNvml fake;
  ASSERT_NE(fake.live, nullptr);
  const int before = fake.live();
  {
    auto gpus = GpuTelemetry::Load(TBMS_FAKE_NVML);
    ASSERT_TRUE(gpus.ok());
    EXPECT_EQ(fake.live(), before + 1);
  }
  EXPECT_EQ(fake.live(), before);
}

TEST(GpuTelemetry, WithoutTheLibraryOrADriverSaysWhy) {
  auto missing = GpuTelemetry::Load("/nonexistent/libnvidia-ml.so.1");
  EXPECT_EQ(missing.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(missing.status().message().find("cannot load /nonexistent/libnvidia-ml.so.1"), std::string::npos)
      << missing.status().message();

  auto not_nvml = GpuTelemetry::Load("libm.so.6");
  EXPECT_EQ(not_nvml.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(not_nvml.status().message().find("no nvmlInit_v2 in libm.so.6"), std::string::npos)
      << not_nvml.status().message();

  FakeNvml fake;
  fake.fail_init(9);  // NVML_ERROR_DRIVER_NOT_LOADED
  auto no_driver = GpuTelemetry::Load(TBMS_FAKE_NVML);
  EXPECT_EQ(no_driver.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(no_driver.status().message().find("NVML did not start: Driver Not Loaded"), std::string::npos)
      << no_driver.status().message();
}

}  // namespace
}  // namespace tbms
