// ThreadPoolExecutor: runs a Backend's batches on one thread per instance.
//
// The CPU backends (and anything that blocks while computing) run here. Each
// instance is a thread with a one-batch mailbox (the batcher never gives a
// busy instance more work). The service time is the wall time of
// Backend::Process, measured on the instance thread: real compute time is
// what this component exists to measure. Completions are posted to the
// core's runner, which runs them in the core's context.
// Thread safety: Run is called from the core's context; the destructor
// joins the threads and drops completions not yet posted.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tbms/backends/executor.h"

namespace tbms {

// A model's compute. Process may be called concurrently from different
// instances' threads, so an implementation must be safe for concurrent use.
class Backend {
 public:
  virtual ~Backend() = default;
  // One answer (or error) per batch item, in order.
  virtual std::vector<StatusOr<Answer>> Process(const Batch& batch) = 0;
};

class ThreadPoolExecutor final : public Executor {
 public:
  struct Options {
    std::string model;
    int instances = 1;
  };
  static StatusOr<std::unique_ptr<ThreadPoolExecutor>> Create(Options options,
                                                              std::shared_ptr<Backend> backend,
                                                              CoreRunner* core);
  ~ThreadPoolExecutor() override;

  int instances() const override { return static_cast<int>(slots_.size()); }
  void Run(int instance, const Batch& batch, Done done) override;

 private:
  struct Slot {
    std::mutex mu;
    std::condition_variable cv;
    const Batch* batch = nullptr;  // guarded by mu; set by Run, cleared by the thread
    Done done;                     // guarded by mu
    bool stop = false;             // guarded by mu; one-way
    std::thread thread;
  };
  ThreadPoolExecutor(Options options, std::shared_ptr<Backend> backend, CoreRunner* core);
  void Loop(Slot& slot);

  // Constant after construction.
  const Options options_;
  const std::shared_ptr<Backend> backend_;
  CoreRunner* const core_;
  std::vector<std::unique_ptr<Slot>> slots_;
};

}  // namespace tbms
