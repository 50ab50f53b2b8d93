// NVML through dlopen. The few types and functions used are declared here
// from the NVML API reference (the toolkit ships no nvml.h on these
// machines, and the driver may be newer or older than any header).
#include <dlfcn.h>

#include "find_symbol.h"
#include "tbms/backends/gpu_telemetry.h"
#include "tbms/backends/matrix_product.h"

namespace tbms {
namespace {

using NvmlReturn = int;  // nvmlReturn_t
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr NvmlReturn kNvmlInvalidArgument = 2;
constexpr NvmlReturn kNvmlNotFound = 6;
using NvmlDevice = struct NvmlDeviceOpaque*;  // nvmlDevice_t
struct NvmlUtilization {  // nvmlUtilization_t: percentages
  unsigned int gpu;
  unsigned int memory;
};
struct NvmlMemory {  // nvmlMemory_t (v1): bytes
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

}  // namespace

struct GpuTelemetry::Api {
  void* library = nullptr;
  NvmlReturn (*Init)() = nullptr;
  NvmlReturn (*Shutdown)() = nullptr;
  const char* (*ErrorString)(NvmlReturn) = nullptr;
  NvmlReturn (*ByIndex)(unsigned int, NvmlDevice*) = nullptr;
  NvmlReturn (*ByPciBusId)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*Utilization)(NvmlDevice, NvmlUtilization*) = nullptr;
  NvmlReturn (*Memory)(NvmlDevice, NvmlMemory*) = nullptr;

  ~Api() {
    if (library != nullptr) dlclose(library);
  }
  std::string Error(NvmlReturn r) const { return ErrorString ? ErrorString(r) : "NVML error " + std::to_string(r); }
};

StatusOr<std::unique_ptr<GpuTelemetry>> GpuTelemetry::Load(const std::string& library) {
  auto api = std::make_unique<Api>();
  api->library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (api->library == nullptr) return Unavailable("GPU telemetry: cannot load " + library + ": " + dlerror());
  std::string error;
  void* lib = api->library;
  const bool found = FindSymbol(lib, "nvmlInit_v2", &api->Init, library, &error) &&
                     FindSymbol(lib, "nvmlShutdown", &api->Shutdown, library, &error) &&
                     FindSymbol(lib, "nvmlErrorString", &api->ErrorString, library, &error) &&
                     FindSymbol(lib, "nvmlDeviceGetHandleByIndex_v2", &api->ByIndex, library, &error) &&
                     FindSymbol(lib, "nvmlDeviceGetHandleByPciBusId_v2", &api->ByPciBusId, library, &error) &&
                     FindSymbol(lib, "nvmlDeviceGetUtilizationRates", &api->Utilization, library, &error) &&
                     FindSymbol(lib, "nvmlDeviceGetMemoryInfo", &api->Memory, library, &error);
  if (!found) return Unavailable("GPU telemetry: " + error);
  if (NvmlReturn r = api->Init(); r != kNvmlSuccess) {
    return Unavailable("GPU telemetry: NVML did not start: " + api->Error(r));
  }
  return std::unique_ptr<GpuTelemetry>(new GpuTelemetry(std::move(api)));
}

GpuTelemetry::GpuTelemetry(std::unique_ptr<Api> api) : api_(std::move(api)) {}

GpuTelemetry::~GpuTelemetry() { api_->Shutdown(); }

StatusOr<GpuReading> GpuTelemetry::Read(int index) const {
  const std::string gpu = "gpu " + std::to_string(index);
  if (index < 0) return NotFound(gpu + ": no such GPU");
  NvmlDevice device = nullptr;
  const std::string bus_id = CudaPciBusId(index);
  NvmlReturn r = bus_id.empty() ? api_->ByIndex(static_cast<unsigned int>(index), &device)
                                : api_->ByPciBusId(bus_id.c_str(), &device);
  if (r == kNvmlInvalidArgument || r == kNvmlNotFound) return NotFound(gpu + ": no such GPU (" + api_->Error(r) + ")");
  if (r != kNvmlSuccess) return Unavailable(gpu + ": " + api_->Error(r));
  NvmlUtilization utilization{};
  NvmlMemory memory{};
  if (r = api_->Utilization(device, &utilization); r != kNvmlSuccess) {
    return Unavailable(gpu + ": utilisation: " + api_->Error(r));
  }
  if (r = api_->Memory(device, &memory); r != kNvmlSuccess) return Unavailable(gpu + ": memory: " + api_->Error(r));
  return GpuReading{.utilization = utilization.gpu / 100.0,
                    .memory_used = static_cast<int64_t>(memory.used),
                    .memory_total = static_cast<int64_t>(memory.total)};
}

}  // namespace tbms
