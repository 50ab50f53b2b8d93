// CoreRunner: runs the scheduling core's work one task at a time, in the
// order posted, without a lock that any thread waits on.
//
// Every entry into the core (a try's submission, a timer expiry, an executor
// completion, a table swap) is a task posted here. Post pushes the task onto
// a lock-free multi-producer list; if no thread is running the core, the
// posting thread becomes its runner and drains the list, a whole group per
// pass, until it is empty (flat combining, like LevelDB's group commit). A
// thread that finds the core busy returns at once: the runner runs its task
// next. So an idle server answers a 0 ms model inside the Post that submitted
// it, and a busy one never makes a thread queue on a mutex.
// After each group the runner calls `after_group` (the clock's poll), in the
// core's context.
//
// Thread safety: Post is safe from any thread, also from inside a task (it
// then only queues). Tasks run in the core's context: one at a time, each
// seeing everything the tasks before it did. RunAndWait must not be called
// from inside a task. Destroy the runner only when nothing posts any more.
// Why this shape, and not a core thread or shards: docs/architecture.md.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <utility>

namespace tbms {

class CoreRunner {
 public:
  explicit CoreRunner(std::function<void()> after_group = nullptr) : after_group_(std::move(after_group)) {}
  ~CoreRunner();  // frees tasks that never ran
  CoreRunner(const CoreRunner&) = delete;
  CoreRunner& operator=(const CoreRunner&) = delete;

  // Runs `task()` in the core's context: at once on this thread if the core
  // is free, else on the thread running it, after every task posted before.
  template <typename F>
  void Post(F&& task) {
    Push(new TaskNode<std::decay_t<F>>(std::forward<F>(task)));
  }
  // Posts `task` and waits until it has run. Not from inside a task.
  void RunAndWait(std::function<void()> task);
  // True on the thread running the core.
  bool in_core() const;
  // Whether posted tasks wait for their turn (the core's backlog is not empty).
  bool has_waiting() const { return head_.load() != nullptr; }
  // Changes before each task and before after_group; only in the core's
  // context. What a value cached per task (the clock's now) is keyed on.
  uint64_t task_epoch() const { return task_epoch_; }
  // Tasks run so far and the passes that ran them: how well posts group.
  uint64_t tasks_run() const { return tasks_run_.load(std::memory_order_relaxed); }
  uint64_t groups_run() const { return groups_run_.load(std::memory_order_relaxed); }

 private:
  struct Node {
    virtual ~Node() = default;
    virtual void Run() = 0;
    Node* next = nullptr;
  };
  template <typename F>
  struct TaskNode final : Node {
    explicit TaskNode(F&& f) : fn(std::move(f)) {}
    explicit TaskNode(const F& f) : fn(f) {}
    void Run() override { fn(); }
    F fn;
  };

  void Push(Node* node);
  void Drain();
  static Node* Reverse(Node* list);

  const std::function<void()> after_group_;
  std::atomic<Node*> head_{nullptr};  // newest first
  std::atomic<bool> running_{false};  // one-way per pass: set by the runner, cleared when it leaves
  uint64_t task_epoch_ = 0;  // only the runner touches it
  std::atomic<uint64_t> tasks_run_{0};
  std::atomic<uint64_t> groups_run_{0};
};

}  // namespace tbms
