// HouseLoader: keeps the engine's models in line with the model house folder,
// in Triton's two modes:
//   poll      rescans the house every `poll_interval` and applies what changed
//             (new, changed and removed models and versions);
//   explicit  changes only on request: Load(model) rereads the house and
//             (re)loads that model, Unload(model) retires it;
//   none      the house is loaded once at startup.
// Loads run on the loader's own thread, never on the core or an io thread;
// it also sweeps retired versions once their in-flight work is done.
// Thread-safe.
#pragma once

#include <deque>
#include <filesystem>
#include <functional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "tbms/common/mutex.h"
#include "tbms/server/engine.h"

namespace tbms {

enum class ModelControl { kNone, kPoll, kExplicit };

// Logs each warning to stderr as "tbms: warning: <message>".
void LogHouseWarnings(const std::vector<HouseWarning>& warnings);
StatusOr<ModelControl> ParseModelControl(std::string_view name);

class HouseLoader {
 public:
  using Done = std::function<void(Status)>;
  // `logged`: the warnings the start-up load logged already; each
  // (model, key) warning is logged once for the loader's life.
  HouseLoader(Engine* engine, std::filesystem::path dir, ModelControl mode, Duration poll_interval,
              const std::vector<HouseWarning>& logged = {});
  ~HouseLoader();  // stops the thread after the job in progress

  ModelControl mode() const { return mode_; }
  // Explicit mode only (FAILED_PRECONDITION otherwise). `done` runs on the
  // loader's thread when the model is ready or failed to load.
  void Load(std::string model, Done done) EXCLUDES(mu_);
  void Unload(std::string model, Done done) EXCLUDES(mu_);
  // Hot plug (any mode): `change` (ModelManager::SetDeviceUp, SetReplicas)
  // runs on the loader's thread in turn with loads, so an io thread never
  // waits for a load in progress; `done` gets its status.
  void Admin(std::function<Status()> change, Done done) EXCLUDES(mu_);

 private:
  struct Job {
    std::function<Status()> work;
    Done done;
  };
  void Enqueue(Job job) EXCLUDES(mu_);
  Status LoadModel(const std::string& model) EXCLUDES(mu_);
  void Run() EXCLUDES(mu_);
  // Loads and polls run without mu_, so Load and Unload never wait on a load.
  void Poll() EXCLUDES(mu_);
  // Logs the scan's warnings not logged before (of `model` only, if given).
  void LogNewWarnings(const HouseScan& scan, std::string_view model = {});

  Engine* const engine_;
  const std::filesystem::path dir_;
  const ModelControl mode_;
  const Duration poll_interval_;

  Mutex mu_;
  CondVar wake_;
  std::deque<Job> jobs_ GUARDED_BY(mu_);  // bounded by kMaxJobs
  bool stop_ GUARDED_BY(mu_) = false;
  std::string last_digest_;  // only on the loader's thread: what the last poll applied
  std::set<std::string> logged_house_errors_;  // only on the loader's thread: the last poll's, logged
  std::set<std::pair<std::string, std::string>> warned_;  // only on the loader's thread: (model, key)
  std::thread thread_;
};

}  // namespace tbms
