// Policy: how tries are served. `tbms` is the broker; the others are
// baselines modelled on the servers users would otherwise run, for
// benchmarks (tbms serve --policy):
//   single          Triton-like: top model only, queue timeout = tloc, answers
//                   whenever the model does (no end-to-end deadline)
//   default-on-miss Clipper-like: top model only, no answer at the deadline
//   drop-late       Clockwork-like: top model only, EDF, drop what cannot
//                   finish in time
// Each baseline is a setting of the broker and the batchers, plus "top model
// only": this file is the one place that says which.
#pragma once

#include <string_view>

#include "tbms/batching/batcher.h"
#include "tbms/broker/broker.h"
#include "tbms/common/status.h"

namespace tbms {

enum class Policy { kTbms, kSingle, kDefaultOnMiss, kDropLate };
StatusOr<Policy> ParsePolicy(std::string_view name);

// `options` with the broker's rules the policy turns off turned off.
Broker::Options BrokerOptionsFor(Policy policy, Broker::Options options);
// `options` with the policy's late-drop rule.
Batcher::Options BatcherOptionsFor(Policy policy, Batcher::Options options);
// Baselines run the top candidate only: drops the others from `request`.
void ApplyPolicy(Policy policy, TryRequest* request);

}  // namespace tbms
