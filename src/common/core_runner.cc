#include "tbms/common/core_runner.h"

#include <future>

namespace tbms {
namespace {

thread_local const CoreRunner* running_here = nullptr;

}  // namespace

CoreRunner::~CoreRunner() {
  for (Node* n = head_.exchange(nullptr); n != nullptr;) {
    Node* next = n->next;
    delete n;
    n = next;
  }
}

bool CoreRunner::in_core() const { return running_here == this; }

void CoreRunner::Push(Node* node) {
  Node* head = head_.load(std::memory_order_relaxed);
  do {
    node->next = head;
  } while (!head_.compare_exchange_weak(head, node, std::memory_order_seq_cst, std::memory_order_relaxed));
  // Whoever sets running_ drains; a runner that is leaving re-checks head_
  // after clearing it (seq_cst on both sides), so no task is left behind.
  if (running_.exchange(true)) return;
  Drain();
}

void CoreRunner::Drain() {
  const CoreRunner* outer = running_here;  // a runner of another CoreRunner (tests nest them)
  running_here = this;
  for (;;) {
    Node* group = head_.exchange(nullptr);
    if (group == nullptr) {
      running_.store(false);
      if (head_.load() == nullptr || running_.exchange(true)) break;
      continue;  // a task arrived while leaving, and no one else took the core
    }
    uint64_t n = 0;
    for (Node* node = Reverse(group); node != nullptr; ++n) {
      Node* next = node->next;
      ++task_epoch_;
      node->Run();
      delete node;
      node = next;
    }
    ++task_epoch_;
    if (after_group_) after_group_();
    tasks_run_.fetch_add(n, std::memory_order_relaxed);
    groups_run_.fetch_add(1, std::memory_order_relaxed);
  }
  running_here = outer;
}

CoreRunner::Node* CoreRunner::Reverse(Node* list) {
  Node* out = nullptr;
  while (list != nullptr) {
    Node* next = list->next;
    list->next = out;
    out = list;
    list = next;
  }
  return out;
}

void CoreRunner::RunAndWait(std::function<void()> task) {
  std::promise<void> ran;
  std::future<void> done = ran.get_future();
  Post([&task, &ran] {
    task();
    ran.set_value();
  });
  done.wait();
}

}  // namespace tbms
