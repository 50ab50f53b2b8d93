#include "model_flags.h"

#include "tbms/batching/batcher.h"
#include "tbms/tune/profile.h"

namespace tbms::tools {

void AddModelFlags(CLI::App* cmd, ModelFlags& f) {
  cmd->add_option("--max-batch", f.max_batch, "Max batch size per model")
      ->check(CLI::Range(1, Batcher::kMaxBatchSize))->capture_default_str();
  cmd->add_option("--max-queue-delay-ms", f.max_queue_delay_ms, "How long a batch may wait to fill")
      ->check(CLI::Range(0.0, 60000.0))->capture_default_str();
  cmd->add_option("--max-queue", f.max_queue, "Queued items per model")
      ->check(CLI::Range(1, 100000000))->capture_default_str();
  cmd->add_option("--jitter", f.jitter, "Service-time jitter: none, uniform, lognormal")->capture_default_str();
  cmd->add_option("--jitter-spread", f.jitter_spread, "uniform: +-fraction; lognormal: sigma")
      ->check(CLI::Range(0.0, 10.0))->capture_default_str();
  cmd->add_option("--straggler-rate", f.straggler_rate, "Share of executions 10x slower")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--failure-rate", f.failure_rate, "Share of executions that fail")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--seed", f.seed, "Random seed of the simulator")->capture_default_str();
  cmd->add_option("--warmup", f.warmup,
                  "Batches of each size every model runs before it serves ([warmup] count): 0 (none: its first "
                  "tries are planned on the ests), or " + std::to_string(kMinWarmupCount) + " to " +
                      std::to_string(kMaxWarmupCount))
      ->capture_default_str();
  cmd->add_option("--guard-ms", f.guard_ms,
                  "Margin kept before each deadline for timer lateness and the response write")
      ->check(CLI::Range(0.0, 10000.0))->capture_default_str();
}

std::span<const SimulateOnlyFlag> SimulateOnlyModelFlags() {
  static constexpr SimulateOnlyFlag kFlags[] = {
      {"--max-batch", "max_batch_size in model.toml's [batching]"},
      {"--max-queue-delay-ms", "max_queue_delay_ms in model.toml's [batching]"},
      {"--max-queue", "max_queue_size in model.toml's [batching]"},
      {"--jitter", "jitter in each version's simulated.toml"},
      {"--jitter-spread", "jitter_spread in each version's simulated.toml"},
      {"--straggler-rate", "straggler_rate in each version's simulated.toml"},
      {"--failure-rate", "failure_rate in each version's simulated.toml"},
      {"--seed", "seed in each version's simulated.toml"},
      {"--warmup", "count in model.toml's [warmup]"},
  };
  return kFlags;
}

}  // namespace tbms::tools
