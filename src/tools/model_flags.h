// Flags shared by the commands that run simulated models (serve, sim): how
// each model batches, what the simulator's timing looks like, the broker's
// guard. One definition, so the two commands cannot drift apart.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tbms::tools {

struct ModelFlags {
  int max_batch = 8;
  double max_queue_delay_ms = 0;
  size_t max_queue = 1024;
  std::string jitter = "none";
  double jitter_spread = 0.1;
  double straggler_rate = 0;
  double failure_rate = 0;
  uint64_t seed = 1;
  double guard_ms = 1;
  int warmup = 0;  // [warmup] count of every model (CheckWarmupCount)
};

void AddModelFlags(CLI::App* cmd, ModelFlags& f);

// A flag that shapes simulated models, and the key a model house sets it
// with instead (tbms serve --house refuses the flag, naming the key).
struct SimulateOnlyFlag {
  std::string_view flag;
  std::string_view house_key;  // "max_batch_size in model.toml"
};
// The flags of AddModelFlags that a house's files set (all but --guard-ms,
// which is the broker's and applies to a house too).
std::span<const SimulateOnlyFlag> SimulateOnlyModelFlags();

}  // namespace tbms::tools
