// A stand-in for the driver's NVML (libnvidia-ml) with two GPUs whose
// readings are known, for GpuTelemetry's tests. The signatures follow the
// NVML API reference; the fake_nvml_* functions steer it.
#include <cstring>

namespace {

struct Device {
  unsigned int utilization_pct;
  unsigned long long total, used;
};
constexpr unsigned long long kGiB = 1ull << 30;
Device devices[] = {{37, 80 * kGiB, 1 * kGiB}, {90, 80 * kGiB, 70 * kGiB}};
int init_result = 0;  // what nvmlInit_v2 answers
int live = 0;         // inits not yet shut down

}  // namespace

extern "C" {

struct nvmlUtilization_t {
  unsigned int gpu, memory;
};
struct nvmlMemory_t {
  unsigned long long total, free, used;
};

int nvmlInit_v2() {
  if (init_result == 0) ++live;
  return init_result;
}
int nvmlShutdown() {
  --live;
  return 0;
}
const char* nvmlErrorString(int result) {
  switch (result) {
    case 2: return "Invalid Argument";
    case 9: return "Driver Not Loaded";
    default: return "Unknown Error";
  }
}
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void** device) {
  if (index >= sizeof devices / sizeof devices[0]) return 2;
  *device = &devices[index];
  return 0;
}
int nvmlDeviceGetHandleByPciBusId_v2(const char* bus_id, void** device) {
  if (std::strcmp(bus_id, "00000000:3B:00.0") != 0) return 6;
  *device = &devices[1];
  return 0;
}
int nvmlDeviceGetUtilizationRates(void* device, nvmlUtilization_t* out) {
  out->gpu = static_cast<Device*>(device)->utilization_pct;
  out->memory = 0;
  return 0;
}
int nvmlDeviceGetMemoryInfo(void* device, nvmlMemory_t* out) {
  const Device& d = *static_cast<Device*>(device);
  *out = {d.total, d.total - d.used, d.used};
  return 0;
}

void fake_nvml_fail_init(int result) { init_result = result; }
int fake_nvml_live() { return live; }

}  // extern "C"
