#include "tbms/server/policy.h"

#include <string>

namespace tbms {
namespace {

bool LaunchesRegardless(Policy p) { return p == Policy::kSingle || p == Policy::kDefaultOnMiss; }

}  // namespace

StatusOr<Policy> ParsePolicy(std::string_view name) {
  if (name == "tbms") return Policy::kTbms;
  if (name == "single") return Policy::kSingle;
  if (name == "default-on-miss") return Policy::kDefaultOnMiss;
  if (name == "drop-late") return Policy::kDropLate;
  return InvalidArgument("unknown policy '" + std::string(name) +
                         "' (expected tbms, single, default-on-miss or drop-late)");
}

Broker::Options BrokerOptionsFor(Policy policy, Broker::Options options) {
  options.launch_predicted_late = LaunchesRegardless(policy);
  options.wait_past_deadline = policy == Policy::kSingle;
  if (policy != Policy::kTbms) options.core_lag_margin = 0;  // the baselines model servers that do not measure it
  return options;
}

Batcher::Options BatcherOptionsFor(Policy policy, Batcher::Options options) {
  options.drop_only_expired = LaunchesRegardless(policy);
  return options;
}

void ApplyPolicy(Policy policy, TryRequest* request) {
  if (policy == Policy::kTbms || request->candidates.size() <= 1) return;
  request->candidates.resize(1);
  request->members.resize(request->candidates[0].first + request->candidates[0].count);
}

}  // namespace tbms
