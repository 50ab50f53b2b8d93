// Devices and placement: what a model house runs on (devices.toml) and
// where each model's replicas go (its instance groups).
//
//   devices.toml             [gpu0] kind = "gpu", index = 0, memory_mib = 81920
//                            [cpu0] kind = "cpu", cores = "0-7"
//                            [workers] kind = "remote", endpoints = [...]
//   embedding/model.toml     [[instance_group]] count = 2, device = "gpu0",
//                            share_pct = 50, memory_mib = 4096
//
// A house without devices.toml still has the devices its models name the
// old way (`device = "cpu"`, "gpu", "gpu:N"): implicit ones, not checked
// for capacity. docs/house.md, "Devices", is the format.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tbms {

enum class DeviceKind { kCpu, kGpu, kRemote };
std::string_view DeviceKindName(DeviceKind kind);  // "cpu", "gpu", "remote"

struct DeviceConfig {
  std::string name;
  DeviceKind kind = DeviceKind::kCpu;
  bool declared = false;  // in devices.toml (else named by a model's `device`)
  std::vector<int> cores{};             // cpu: replicas' threads are pinned to these; empty: any
  int gpu_index = 0;                    // gpu: the CUDA device index
  int64_t memory_mib = 0;               // gpu: what replicas may reserve; 0: not declared
  std::vector<std::string> endpoints{};  // remote: HOST:PORT of its servers

  // Replica-seconds of work per second the device holds, for occupancy: its
  // cores (a CPU with no core set: 0, the replicas placed on it), one for a
  // GPU (replicas on it share its time), 0 for a remote device.
  double capacity() const;
  bool operator==(const DeviceConfig&) const = default;
};

// One instance group of a model (Triton's instance_group): `count` replicas
// on `device`, with a virtual-GPU share of its time (enforced as batches
// are admitted) and memory reserved per replica.
struct ReplicaGroup {
  int count = 1;
  DeviceConfig device;  // resolved: a reload sees a change of the device
  double share = 0;     // of the device's time, in (0, 1]; 0: no limit
  int64_t memory_mib = 0;  // per replica; 0: none reserved
  bool operator==(const ReplicaGroup&) const = default;
};

// The device of an old-style name: "cpu", "gpu" (CUDA 0), "gpu:N" (N in 0-63);
// false for any other name.
bool ImplicitDevice(std::string_view name, DeviceConfig* out);

// "0-3,8,10-11" -> {0, 1, 2, 3, 8, 10, 11}; false with `error` set for a
// malformed list, a core above `max_core`, or a core listed twice.
bool ParseCoreList(std::string_view text, int max_core, std::vector<int>* cores, std::string* error);

}  // namespace tbms
