// BatchCurve: what the tuner knows of a model's speed on its device.
#pragma once

#include <string>
#include <vector>

namespace tbms {

// A model's batch-time curve: T_b, the service time of a batch of b items,
// for b = 1 .. max_batch(), as profiled on its device.
struct BatchCurve {
  std::string model;
  std::vector<double> batch_ms;  // [b - 1]: T_b in ms, each > 0

  int max_batch() const { return static_cast<int>(batch_ms.size()); }
  double at(int b) const { return batch_ms[b - 1]; }
};

}  // namespace tbms
