// Executor: runs batches of one model on its instances.
//
// An executor owns `instances` execution slots (threads, GPU streams, remote
// connections or simulated timelines). The batcher hands it one batch per
// free instance and learns the service time from what comes back. Executors
// for a GPU or a remote server (KServe v2, Triton) implement this same
// interface.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tbms/common/clock.h"
#include "tbms/common/core_runner.h"
#include "tbms/common/status.h"
#include "tbms/common/tensor.h"
#include "tbms/common/time.h"

namespace tbms {

// The inputs of one try or infer, shared (immutable) by all of its attempts:
// a question, v2 tensors, or both (a one-element BYTES tensor "question" also
// fills `question`, so text backends read one field).
struct Inputs {
  std::string question;
  std::vector<Tensor> tensors;
};

// An answer is a JSON value, kept as its serialized text.
using Answer = std::string;

struct Batch {
  std::vector<std::shared_ptr<const Inputs>> items;
};

struct BatchResult {
  Duration service_time{0};                 // as measured by the executor
  std::vector<StatusOr<Answer>> answers;    // one per batch item, same order
};

// What the server gives every executor: the core's clock (a simulated
// execution is a timer on it) and the core's runner, where work finished on
// another thread is handed back (CoreRunner::Post).
struct ExecutorContext {
  Clock* clock = nullptr;
  CoreRunner* core = nullptr;
};

class Executor {
 public:
  using Done = std::function<void(BatchResult)>;
  virtual ~Executor() = default;

  virtual int instances() const = 0;
  // Runs `batch` on `instance` (0 <= instance < instances(), and free). The
  // batch stays alive and unchanged until `done` is called. `done` is called
  // exactly once, in the core's context, and never from inside Run.
  virtual void Run(int instance, const Batch& batch, Done done) = 0;
};

}  // namespace tbms
