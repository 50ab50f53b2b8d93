// Engine: a running server's scheduling core — the broker, the models it
// serves (ModelManager) and the report channel's counters — and the one way
// into it, through the core's runner.
//
// Every entry into the core is a task on the CoreRunner (see
// common/core_runner.h): a thread that submits a try never waits for a lock;
// if another thread is running the core, the try runs there next. A try's
// Done runs in the core's context on whichever thread runs it: it must only
// hand the result off (post to the connection's strand), never block.
//
// The clock and the runner are injected: the server passes a RealTimeCore's,
// tests a VirtualClock and a CoreRunner of their own.
// Thread safety: safe for concurrent use, except Stop (once, at shutdown).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/broker/broker.h"
#include "tbms/common/clock.h"
#include "tbms/common/core_runner.h"
#include "tbms/report/exposition.h"
#include "tbms/report/stats.h"
#include "tbms/server/model_manager.h"
#include "tbms/server/policy.h"

namespace tbms {

class GpuTelemetry;

class Engine {
 public:
  struct Options {
    Broker::Options broker;
    bool metrics = true;  // count for the report channel (/metrics, /v1/report)
    Policy policy = Policy::kTbms;
    std::function<void(const std::string&)> log;  // the model lifecycle's (ModelManager::Options::log)
  };
  // `clock` and `core` must outlive the engine.
  static StatusOr<std::unique_ptr<Engine>> Create(Options options, Clock* clock, CoreRunner* core);
  ~Engine();  // call once nothing is in flight

  // The model lifecycle (Apply, Unload, Sweep, states): see model_manager.h.
  ModelManager& models() { return *models_; }
  const ModelManager& models() const { return *models_; }
  Status Apply(const HouseScan& scan, std::string_view only, bool remove_missing) {
    return models_->Apply(scan, only, remove_missing);
  }
  Status Unload(std::string_view model) { return models_->Unload(model); }
  void Sweep() { models_->Sweep(); }
  bool has_retired() const { return models_->has_retired(); }
  std::shared_ptr<const ModelTable> table() const { return models_->table(); }
  std::vector<ModelState> states() const { return models_->states(); }

  // Takes the try iff the result is OK (INVALID_ARGUMENT as Broker::Check;
  // RESOURCE_EXHAUSTED when max_pending tries are in flight) and runs it on
  // the core; `done` is called exactly once, in the core's context, maybe
  // before Submit returns. Counted under (instance, task) — task empty: its
  // candidates' names.
  Status Submit(std::string_view instance, std::string_view task, TryRequest request, Broker::Done done);
  // Tries accepted and not yet answered; never waits for the core.
  size_t pending() const;

  // The report channel's counters (nullptr with metrics off); safe to read
  // from any thread. ReportNow pairs the engine clock with the wall clock.
  const StatsRegistry* stats() const { return stats_.get(); }
  ReportContext ReportNow() const;
  // Reads every GPU device of the house from the driver into its device
  // metrics (a GPU it cannot read is left without a reading). From any
  // thread; returns the GPUs it could not read, and why.
  std::vector<Status> SampleGpus(const GpuTelemetry& gpus);

 private:
  Engine(Options options, Clock* clock, CoreRunner* core);

  // Constant after construction.
  const Policy policy_;
  Clock* const clock_;
  CoreRunner* const core_;
  const TimePoint started_;
  std::unique_ptr<StatsRegistry> stats_;  // the pointer; counters: one writer (the core), any reader
  std::unique_ptr<Broker> broker_;        // only in the core's context, but for Check and pending()
  std::unique_ptr<ModelManager> models_;
  // Tries admitted and posted, not yet handed to the broker: with the
  // broker's own count, what max_pending bounds.
  std::atomic<size_t> in_transit_{0};
};

}  // namespace tbms
