// ModelManager: the model lifecycle of a running server — load, install,
// swap, retire, sweep.
//
// The served set is an immutable ModelTable snapshot, read by any thread
// without a lock. Apply brings it in line with a scan of the model house:
// new and changed versions are loaded (and warmed) first, on the caller's
// thread, then given batchers and swapped in with one task on the core;
// versions that leave are retired, finish their in-flight work, and are
// handed back by Sweep once nothing refers to them, to be destroyed (threads
// joined, model memory freed) on the caller's thread, never on the core.
//
// Thread safety: table() and states() from any thread. Apply, Unload and
// Sweep are serialized by load_mu_ and must not be called from the core
// (they wait for it); the house loader's thread calls them.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/batching/batcher.h"
#include "tbms/common/mutex.h"
#include "tbms/house/config.h"
#include "tbms/report/stats.h"
#include "tbms/server/model_table.h"
#include "tbms/server/policy.h"

namespace tbms {

// A model version's state, as the repository index shows it.
struct ModelState {
  std::string name;
  std::string version;  // empty: the model as a whole (a mix, or a model that failed)
  std::string state;    // READY, UNAVAILABLE
  std::string reason;   // why it is not ready, or why a reload was refused
};

class ModelManager {
 public:
  struct Options {
    ExecutorContext context;       // the core's clock and runner, for the executors
    ItemSink* sink = nullptr;      // where the batchers report (the broker)
    StatsRegistry* stats = nullptr;  // per-model counters, if any
    Policy policy = Policy::kTbms;
    // One line for each version loaded, retired and released, and for each
    // new failure with its file:line:column reason (the server's stderr);
    // none: silent. Called off the core.
    std::function<void(const std::string&)> log;
  };
  explicit ModelManager(Options options);
  ~ModelManager();  // Close, if not called before

  // Ends serving, at the server's end: the table empties and every version
  // is destroyed on this thread; a batch still running (its try over)
  // finishes first, unreported. Not from the core; once nothing else holds
  // a table, and with no try pending. Apply and the others fail after it.
  void Close() EXCLUDES(load_mu_);

  // Loads what `scan` holds that is new or changed and swaps it in. `only`
  // limits the change to one model (the repository API's load); with
  // `remove_missing`, models gone from the house are retired (poll mode).
  // A model or version that fails to load leaves what served it before in
  // place; the failure shows in states(). Returns the first failure of
  // `only` (OK when only is empty).
  Status Apply(const HouseScan& scan, std::string_view only, bool remove_missing) EXCLUDES(load_mu_);
  // Retires every version of `model`; NOT_FOUND if it is not served.
  Status Unload(std::string_view model) EXCLUDES(load_mu_);
  // Hot plug: serves every version of `model` with `count` replicas from now
  // on, keeping its queue and learned service times (extra replicas drain:
  // a busy one finishes its batch). NOT_FOUND for a model not served,
  // INVALID_ARGUMENT for a mix or a count out of range, UNIMPLEMENTED for
  // a backend whose replicas are fixed.
  Status SetReplicas(std::string_view model, int count) EXCLUDES(load_mu_);
  // Hot plug of a device: drained (false), every replica placed on it takes
  // no batch (a busy one finishes its batch; a model with no replica left
  // fails its queue UNAVAILABLE, so tries fall back at once), and versions
  // loaded later start drained there too; back (true), they serve again.
  // Learned service times are kept. NOT_FOUND for a device that is neither
  // in devices.toml nor named by a served model.
  // A device an executor saw fail (a GPU error) is drained the same way,
  // at once, and stays so until SetDeviceUp(device, true). From any thread.
  Status SetDeviceUp(std::string_view device, bool up) EXCLUDES(load_mu_, failed_mu_);
  void DeviceFailed(const std::string& device, const Status& why) EXCLUDES(failed_mu_);
  std::vector<std::string> down_devices() const EXCLUDES(load_mu_);
  // Destroys retired versions nothing uses any more, on this thread.
  void Sweep() EXCLUDES(load_mu_);
  bool has_retired() const { return retired_count_.load(std::memory_order_relaxed) > 0; }

  std::shared_ptr<const ModelTable> table() const { return table_.load(); }
  std::vector<ModelState> states() const EXCLUDES(states_mu_);

 private:
  struct Loaded;
  using LoadedModels = std::map<std::string, Loaded, std::less<>>;
  using Broken = std::map<std::string, std::vector<ModelState>, std::less<>>;
  Status CheckOpen() const REQUIRES(load_mu_);
  static void CloseOnCore(ModelVersion& v);
  void LoadModel(const ModelConfig& config, const ServedModel* current, Loaded* out) const;
  static void KeepFailedVersions(const ServedModel* current, Loaded* loaded);
  void Install(Loaded& loaded, const ServedModel* current, std::vector<std::string>* events);
  std::shared_ptr<ModelTable> NextTable(LoadedModels& loaded, const Broken& broken, const ModelTable& current,
                                        std::string_view only, bool remove_missing);
  Status RecordStates(const LoadedModels& loaded, const Broken& broken, ModelTable& next,
                      const ModelTable& current, std::vector<std::string>* events) EXCLUDES(states_mu_);
  static void LogNewFailures(const std::string& name, const std::vector<ModelState>& states,
                             const std::map<std::string, std::vector<ModelState>>& before,
                             std::vector<std::string>* events);
  void Log(const std::vector<std::string>& events) const;
  static std::shared_ptr<const HouseAccess> NextAccess(const HouseScan& scan, bool instances_ok,
                                                       std::shared_ptr<const HouseAccess> served);
  void Swap(std::shared_ptr<const ModelTable> next, const ModelTable& current, std::vector<std::string>* events);
  void PublishDevices(const HouseConfig& house);
  void MarkDevice(std::string_view device, bool up);  // in the core's context
  static Options HearingDeviceFailures(Options options, ModelManager* manager);

  const Options options_;
  mutable Mutex load_mu_;  // serializes Apply, Unload, SetReplicas, SetDeviceUp, Sweep and Close
  bool closed_ GUARDED_BY(load_mu_) = false;
  std::vector<DeviceConfig> devices_ GUARDED_BY(load_mu_);  // devices.toml's, as last applied
  std::atomic<std::shared_ptr<const ModelTable>> table_;
  // Only in the core's context: versions out of every new table, not yet swept.
  std::vector<std::shared_ptr<ModelVersion>> retired_;
  std::atomic<size_t> retired_count_{0};  // retired_.size(), for readers off the core
  // Only in the core's context: drained devices (SetDeviceUp).
  std::set<std::string, std::less<>> down_devices_;
  mutable Mutex failed_mu_;
  std::set<std::string> failed_ GUARDED_BY(failed_mu_);  // said failed, not resumed since
  mutable Mutex states_mu_;
  std::map<std::string, std::vector<ModelState>> states_ GUARDED_BY(states_mu_);
  // False once closed (see DeviceFailed).
  const std::shared_ptr<std::atomic<bool>> alive_ = std::make_shared<std::atomic<bool>>(true);
};

}  // namespace tbms
