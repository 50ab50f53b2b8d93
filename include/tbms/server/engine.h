// Engine: the scheduling core (broker, batchers, executors) of a running
// server, behind one lock, and the models it serves.
//
// The core is thread-compatible; the engine makes it safe for concurrent use
// by running every entry (Submit, timers, executor completions) under
// core_mu_, and polls the real clock before releasing it so that work due at
// once (a 0 ms model) completes inline. Callbacks out of the core (a try's
// Done) run under the lock: they must only hand the result off (post to the
// connection's executor), never block.
//
// Models: the served set is an immutable ModelTable snapshot, read without
// the core lock. Apply brings it in line with a scan of the model house:
// new and changed versions are loaded (and warmed) first, off the core, then
// swapped in; versions that leave are retired, finish their in-flight work,
// and are destroyed by Sweep once nothing refers to them.
#pragma once

#include <utility>  // before Asio (see real_clock.h)

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tbms/broker/broker.h"
#include "tbms/house/config.h"
#include "tbms/report/exposition.h"
#include "tbms/report/stats.h"
#include "tbms/server/model_table.h"
#include "tbms/server/real_clock.h"

namespace tbms {

// How tries are served. `tbms` is the broker; the others are baselines
// modelled on the servers users would otherwise run, for benchmarks:
//   single          Triton-like: top model only, queue timeout = tloc, answers
//                   whenever the model does (no end-to-end deadline)
//   default-on-miss Clipper-like: top model only, no answer at the deadline
//   drop-late       Clockwork-like: top model only, EDF, drop what cannot
//                   finish in time
enum class Policy { kTbms, kSingle, kDefaultOnMiss, kDropLate };
StatusOr<Policy> ParsePolicy(std::string_view name);

// A model version's state, as the repository index shows it.
struct ModelState {
  std::string name;
  std::string version;  // empty: the model as a whole (a mix, or a model that failed)
  std::string state;    // READY, UNAVAILABLE
  std::string reason;   // why it is not ready, or why a reload was refused
};

class Engine {
 public:
  struct Options {
    Broker::Options broker;
    bool metrics = true;  // count for the report channel (/metrics, /v1/report)
    Policy policy = Policy::kTbms;
  };
  static StatusOr<std::unique_ptr<Engine>> Create(Options options,
                                                  boost::asio::any_io_executor executor);
  ~Engine();

  // Loads what `scan` holds that is new or changed and swaps it in. `only`
  // limits the change to one model (the repository API's load); with
  // `remove_missing`, models gone from the house are retired (poll mode).
  // A model or version that fails to load leaves what served it before in
  // place; the failure shows in states(). Returns the first failure of
  // `only` (OK when only is empty). Calls are serialized; never on the core.
  Status Apply(const HouseScan& scan, std::string_view only, bool remove_missing);
  // Retires every version of `model`; NOT_FOUND if it is not served.
  Status Unload(std::string_view model);
  // Destroys retired versions nothing uses any more.
  void Sweep();
  bool has_retired() const;

  // The served models, tasks and instances; safe without the lock.
  std::shared_ptr<const ModelTable> table() const { return table_.load(); }
  std::vector<ModelState> states() const;

  // Broker::Submit under the core lock; `done` runs under it too. The try is
  // counted under (instance, task) — task empty: its candidates' names.
  Status Submit(std::string_view instance, std::string_view task, TryRequest request, Broker::Done done);
  size_t pending() const;

  // The report channel's counters (nullptr with metrics off); safe to read
  // without the lock. ReportNow pairs the engine clock with the wall clock.
  const StatsRegistry* stats() const { return stats_.get(); }
  ReportContext ReportNow() const;
  // Runs `task` in the core's context: on an io thread, under the core lock.
  // Thread-pool executors hand their completions back through this.
  void PostToCore(std::function<void()> task);
  // Stops the clock's timer so the io_context can finish; tries still
  // pending never complete (call after draining).
  void Stop();

 private:
  explicit Engine(boost::asio::any_io_executor executor);
  struct Loaded;
  void LoadModel(const ModelConfig& config, const ServedModel* current, Loaded* out);
  static void KeepFailedVersions(const ServedModel* current, Loaded* loaded);
  void Install(Loaded& loaded);
  Status RecordStates(const std::map<std::string, Loaded, std::less<>>& loaded,
                      const std::map<std::string, std::vector<ModelState>, std::less<>>& broken,
                      const ModelTable& next, const ModelTable& current);
  void Swap(std::shared_ptr<const ModelTable> next, const ModelTable& current);

  const boost::asio::any_io_executor executor_;
  mutable std::mutex core_mu_;
  RealClock clock_;                                    // guarded by core_mu_
  std::unique_ptr<Broker> broker_;                     // guarded by core_mu_
  std::vector<std::shared_ptr<ModelVersion>> retired_; // guarded by core_mu_
  std::unique_ptr<StatsRegistry> stats_;               // constant pointer; counters are atomic
  Policy policy_ = Policy::kTbms;                      // constant after Create
  TimePoint started_;                                  // constant after Create
  std::atomic<std::shared_ptr<const ModelTable>> table_;
  std::mutex load_mu_;                                 // serializes Apply and Unload
  mutable std::mutex states_mu_;
  std::map<std::string, std::vector<ModelState>> states_;  // guarded by states_mu_
};

}  // namespace tbms
