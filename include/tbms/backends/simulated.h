// SimulatedExecutor: a simulator of a model's timing, not a model.
//
// Service time of a batch of n items is base + per_item * n, times a jitter
// factor; a share of executions are stragglers (straggler_factor slower),
// fail, or hang (keep the replica busy for hang_time, then fail). Executions
// complete on the injected Clock's timers, so one process can simulate
// thousands of replicas on a virtual clock, or serve a demo on the real one.
// The answer names the model and echoes the question (see Options::score and
// Options::echo).
// Thread-compatible: runs in the core's context.
#pragma once

#include <memory>
#include <random>
#include <string>

#include "tbms/backends/executor.h"
#include "tbms/common/clock.h"

namespace tbms {

class SimulatedExecutor final : public Executor {
 public:
  enum class Jitter { kNone, kUniform, kLognormal };
  struct Options {
    std::string model;
    Duration base{0};       // a, in service = a + b * batch_size
    Duration per_item{0};   // b
    Jitter jitter = Jitter::kNone;
    double jitter_spread = 0.0;  // uniform: +-fraction; lognormal: sigma
    double straggler_rate = 0.0;
    double straggler_factor = 10.0;
    double failure_rate = 0.0;
    double hang_rate = 0.0;
    Duration hang_time = std::chrono::seconds(10);
    int replicas = 1;
    uint64_t seed = 1;
    // An identity model: answers with its first input tensor's data (a JSON
    // array), for protocol conformance tests.
    bool echo = false;
    // When >= 0 the answer is {"answer": "<model> answer to: <question>",
    // "score": score} (what QA models answer, and what mixes aggregate);
    // else just that string.
    double score = -1;
  };
  static StatusOr<std::unique_ptr<SimulatedExecutor>> Create(Options options, Clock* clock);

  int replicas() const override { return replicas_; }
  void Run(int replica, const Batch& batch, Done done) override;
  // A simulated replica is a timeline: adding one is a count, removing none.
  StatusOr<int> AddReplica() override { return replicas_++; }
  Status RemoveReplica(int /*replica*/) override { return OkStatus(); }

  // The nominal (jitter-free) service time of a batch of `n`.
  Duration Nominal(int n) const { return options_.base + options_.per_item * n; }

 private:
  SimulatedExecutor(Options options, Clock* clock);
  Answer AnswerFor(const Inputs& in) const;

  // Constant after construction.
  const Options options_;
  Clock* const clock_;

  std::mt19937_64 rng_;
  int replicas_;
};

// Parses a jitter name: none, uniform, lognormal.
StatusOr<SimulatedExecutor::Jitter> ParseJitter(std::string_view name);

}  // namespace tbms
