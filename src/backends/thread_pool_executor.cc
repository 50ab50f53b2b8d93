#include "tbms/backends/thread_pool_executor.h"

#include <chrono>

#include <pthread.h>
#include <sched.h>

namespace tbms {

StatusOr<std::unique_ptr<ThreadPoolExecutor>> ThreadPoolExecutor::Create(
    Options options, std::shared_ptr<Backend> backend, CoreRunner* core) {
  if (backend == nullptr || core == nullptr) return InvalidArgument(options.model + ": needs a backend and a core");
  if (options.replicas < 1 || options.replicas > kMaxReplicas) {
    return InvalidArgument(options.model + ": replicas must be in [1, " + std::to_string(kMaxReplicas) + "]");
  }
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) CPU_ZERO(&allowed);
  for (const std::vector<int>& set : options.cores) {
    for (int core : set) {
      if (core < 0 || core >= CPU_SETSIZE || !CPU_ISSET(core, &allowed)) {
        return FailedPrecondition(options.model + ": core " + std::to_string(core) +
                                  " is not one this process may run on (" + std::to_string(CPU_COUNT(&allowed)) +
                                  " cores here; see devices.toml)");
      }
    }
  }
  return std::unique_ptr<ThreadPoolExecutor>(
      new ThreadPoolExecutor(std::move(options), std::move(backend), core));
}

ThreadPoolExecutor::ThreadPoolExecutor(Options options, std::shared_ptr<Backend> backend, CoreRunner* core)
    : options_(std::move(options)), backend_(std::move(backend)), core_(core) {
  for (int i = 0; i < options_.replicas; ++i) StartSlot();
}

const std::vector<int>& ThreadPoolExecutor::CoresOf(size_t replica) const {
  static const std::vector<int> kAny;
  if (options_.cores.empty()) return kAny;
  return options_.cores[std::min(replica, options_.cores.size() - 1)];
}

void ThreadPoolExecutor::StartSlot() {
  slots_.push_back(std::make_unique<Slot>());
  Slot& slot = *slots_.back();
  slot.thread = std::thread([this, &slot] { Loop(slot); });
  if (const std::vector<int>& cores = CoresOf(slots_.size() - 1); !cores.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int core : cores) CPU_SET(core, &set);
    // Create checked the cores are this process's: the call cannot fail for them.
    (void)pthread_setaffinity_np(slot.thread.native_handle(), sizeof set, &set);
  }
}

StatusOr<int> ThreadPoolExecutor::AddReplica() {
  if (slots_.size() >= static_cast<size_t>(kMaxReplicas)) {
    return ResourceExhausted(options_.model + ": " + std::to_string(kMaxReplicas) + " replicas ever started");
  }
  StartSlot();
  return static_cast<int>(slots_.size()) - 1;
}

// The thread leaves its loop; the destructor joins it (never the core).
Status ThreadPoolExecutor::RemoveReplica(int replica) {
  if (replica < 0 || replica >= replicas()) return InvalidArgument(options_.model + ": no replica " + std::to_string(replica));
  Slot& slot = *slots_[static_cast<size_t>(replica)];
  MutexLock lock(&slot.mu);
  slot.stop = true;
  slot.cv.Signal();
  return OkStatus();
}

ThreadPoolExecutor::~ThreadPoolExecutor() {
  for (auto& slot : slots_) {
    MutexLock lock(&slot->mu);
    slot->stop = true;
    slot->cv.Signal();
  }
  for (auto& slot : slots_) slot->thread.join();
}

void ThreadPoolExecutor::Run(int replica, const Batch& batch, Done done) {
  Slot& slot = *slots_[static_cast<size_t>(replica)];
  MutexLock lock(&slot.mu);
  slot.batch = &batch;
  slot.done = std::move(done);
  slot.cv.Signal();
}

void ThreadPoolExecutor::Loop(Slot& slot) {
  for (;;) {
    const Batch* batch;
    Done done;
    {
      MutexLock lock(&slot.mu);
      while (!slot.stop && slot.batch == nullptr) slot.cv.Wait(&slot.mu);
      if (slot.stop) return;
      batch = slot.batch;
      done = std::move(slot.done);
      slot.batch = nullptr;
    }
    BatchResult result;
    if (batch->AllOver()) {  // every try ended while the batch was handed over
      result.answers.assign(batch->items.size(), SkippedTryOver());
      PostDone(std::move(done), std::move(result));
      continue;
    }
    const auto start = std::chrono::steady_clock::now();
    result.answers = backend_->Process(*batch);
    result.service_time =
        std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now() - start);
    if (result.answers.size() != batch->items.size()) {
      result.answers.assign(batch->items.size(),
                            Internal(options_.model + ": backend returned a wrong number of answers"));
    }
    // Before the batch is done, so its replica takes no batch on the failed device.
    if (Status failed = backend_->TakeDeviceFailure(); !failed.ok() && options_.device_failed) {
      options_.device_failed(options_.device, failed);
    }
    PostDone(std::move(done), std::move(result));
  }
}

void ThreadPoolExecutor::PostDone(Done done, BatchResult result) {
  core_->Post([open = open(), done = std::move(done), result = std::move(result)]() mutable {
    if (open->load(std::memory_order_relaxed)) done(std::move(result));
  });
}

}  // namespace tbms
