// Engine: the scheduling core (broker, batchers, executors) of a running
// server, behind one lock.
//
// The core is thread-compatible; the engine makes it safe for concurrent use
// by running every entry (Submit, timers, executor completions) under
// core_mu_, and polls the real clock before releasing it so that work due at
// once (a 0 ms model) completes inline. Callbacks out of the core (a try's
// Done) run under the lock: they must only hand the result off (post to the
// connection's executor), never block.
#pragma once

#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/any_io_executor.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tbms/backends/simulated.h"
#include "tbms/batching/batcher.h"
#include "tbms/broker/broker.h"
#include "tbms/report/exposition.h"
#include "tbms/report/stats.h"
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

// One served model (version). Constant after the engine is created.
struct ModelEntry {
  std::string name;
  std::string version = "1";
  Duration default_est{0};  // the prior when a try gives no est
  // Declared before the executor so the executor (and its threads) goes first.
  std::unique_ptr<Batcher> batcher;
  std::unique_ptr<Executor> executor;
};

// A model to serve with the simulated backend.
struct SimulatedModelSpec {
  Duration default_est{0};
  Batcher::Options batching;
  SimulatedExecutor::Options simulated;
};

class Engine {
 public:
  struct Options {
    Broker::Options broker;
    std::vector<SimulatedModelSpec> simulated;
    bool metrics = true;  // count for the report channel (/metrics, /v1/report)
    Policy policy = Policy::kTbms;
  };
  static StatusOr<std::unique_ptr<Engine>> Create(Options options,
                                                  boost::asio::any_io_executor executor);
  ~Engine();

  // Safe without the lock: the set of models is constant after Create.
  const ModelEntry* FindModel(std::string_view name) const;
  const std::vector<std::unique_ptr<ModelEntry>>& models() const { return models_; }

  // Broker::Submit under the core lock; `done` runs under it too. The try
  // is counted under (instance, its candidate list) when metrics are on.
  Status Submit(std::string_view instance, TryRequest request, Broker::Done done);
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
  Status AddSimulated(SimulatedModelSpec spec);

  const boost::asio::any_io_executor executor_;
  mutable std::mutex core_mu_;
  RealClock clock_;                                    // guarded by core_mu_
  std::unique_ptr<Broker> broker_;                     // guarded by core_mu_
  std::unique_ptr<StatsRegistry> stats_;               // constant pointer; counters are atomic
  Policy policy_ = Policy::kTbms;                      // constant after Create
  TimePoint started_;                                  // constant after Create
  std::vector<std::unique_ptr<ModelEntry>> models_;    // constant after Create
  std::map<std::string, ModelEntry*, std::less<>> by_name_;  // constant after Create
};

}  // namespace tbms
