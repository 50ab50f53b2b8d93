// ThreadPoolExecutor: runs a Backend's batches on one thread per replica.
//
// The CPU backends (and anything that blocks while computing) run here. Each
// replica is a thread with a one-batch mailbox (the batcher never gives a
// busy replica more work). Replicas are added (a new thread) and removed
// (its thread told to stop) while serving, each pinned to its device's core
// set when it has one; stopped threads are joined by
// the destructor, which runs off the core. The service time is the wall time of
// Backend::Process, measured on the replica thread: real compute time is
// what this component exists to measure. Completions are posted to the
// core's runner, which runs them in the core's context.
// Thread safety: Run, AddReplica, RemoveReplica and Close in the core's
// context; the destructor joins the threads, off the core (a replica thread
// may be the one running it).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/common/mutex.h"

namespace tbms {

// A model's compute. Process may be called concurrently from different
// replicas' threads, so an implementation must be safe for concurrent use.
class Backend {
 public:
  virtual ~Backend() = default;
  // One answer (or error) per batch item, in order. An item whose try is
  // over by the time the backend reaches it (Inputs::over) may be answered
  // SkippedTryOver() instead of computed. (The executor skips a batch whose
  // tries are all over before calling Process.)
  virtual std::vector<StatusOr<Answer>> Process(const Batch& batch) = 0;
  // See Executor::ExpectedFloor; called from the core, so it must not block.
  virtual Duration ExpectedFloor() const { return Duration(0); }
  // See Executor::StopsAbandonedWork.
  virtual bool StopsAbandonedWork() const { return false; }
  // A failure of the device it computes on (a GPU error) seen since the
  // last call, once; OK while the device works. Asked after each batch.
  virtual Status TakeDeviceFailure() { return OkStatus(); }
};

class ThreadPoolExecutor final : public Executor {
 public:
  struct Options {
    std::string model;
    int replicas = 1;  // at start; at most kMaxReplicas ever started
    // Per replica, the cores its thread is pinned to (a CPU device's core
    // set; empty: any core). Replicas past the list take its last entry.
    std::vector<std::vector<int>> cores{};
    // The house device its replicas run on, and who hears that it failed
    // (Backend::TakeDeviceFailure; called on a replica's thread; may be empty).
    std::string device{};
    std::function<void(const std::string& device, const Status& why)> device_failed{};
  };
  static constexpr int kMaxReplicas = 1024;
  static StatusOr<std::unique_ptr<ThreadPoolExecutor>> Create(Options options,
                                                              std::shared_ptr<Backend> backend,
                                                              CoreRunner* core);
  ~ThreadPoolExecutor() override;

  int replicas() const override { return static_cast<int>(slots_.size()); }
  void Run(int replica, const Batch& batch, Done done) override;
  StatusOr<int> AddReplica() override;
  Status RemoveReplica(int replica) override;
  Duration ExpectedFloor() const override { return backend_->ExpectedFloor(); }
  bool StopsAbandonedWork() const override { return backend_->StopsAbandonedWork(); }

 private:
  struct Slot {
    Mutex mu;
    CondVar cv;
    const Batch* batch GUARDED_BY(mu) = nullptr;  // set by Run, cleared by the thread
    Done done GUARDED_BY(mu);
    bool stop GUARDED_BY(mu) = false;  // one-way
    std::thread thread;
  };
  ThreadPoolExecutor(Options options, std::shared_ptr<Backend> backend, CoreRunner* core);
  void StartSlot();
  const std::vector<int>& CoresOf(size_t replica) const;
  void Loop(Slot& slot);
  void PostDone(Done done, BatchResult result);  // to the core, unless closed by the time it runs

  // Constant after construction.
  const Options options_;
  const std::shared_ptr<Backend> backend_;
  CoreRunner* const core_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace tbms
