// GpuTelemetry: a GPU's utilisation and memory as its driver reports them,
// through NVML (the NVIDIA Management Library, libnvidia-ml, which ships
// with the driver, not with the CUDA toolkit). It is loaded with dlopen, so
// the same binary runs where there is no driver: Load says why not, and
// the device metrics then carry no GPU readings.
// Thread-safe: NVML's queries are; Read may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "tbms/common/status.h"

namespace tbms {

inline constexpr const char* kNvmlLibrary = "libnvidia-ml.so.1";

struct GpuReading {
  double utilization = 0;     // of the GPU's time a kernel ran, over NVML's last sample period, 0..1
  int64_t memory_used = 0;    // bytes
  int64_t memory_total = 0;   // bytes
};

class GpuTelemetry {
 public:
  // Loads `library` and initialises NVML. UNAVAILABLE, saying why, when the
  // library is missing, lacks a function, or NVML finds no driver.
  static StatusOr<std::unique_ptr<GpuTelemetry>> Load(const std::string& library = kNvmlLibrary);
  ~GpuTelemetry();  // shuts NVML down and unloads it
  GpuTelemetry(const GpuTelemetry&) = delete;
  GpuTelemetry& operator=(const GpuTelemetry&) = delete;

  // The GPU with CUDA index `index` (devices.toml's `index`). It is found by
  // its PCI bus id where the CUDA runtime gives one, since NVML numbers GPUs
  // in PCI order and CUDA fastest first; else NVML's index `index`.
  // NOT_FOUND: no such GPU; UNAVAILABLE: NVML could not read it (NVML's words).
  StatusOr<GpuReading> Read(int index) const;

  struct Api;  // NVML's functions, looked up by name

 private:
  explicit GpuTelemetry(std::unique_ptr<Api> api);
  const std::unique_ptr<Api> api_;
};

}  // namespace tbms
