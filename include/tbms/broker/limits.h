// The bounds of a try's fields, defined once. A try reaches the broker
// through three doors, and each checks these same values, so a try one door
// accepts is never refused by another:
//   - the HTTP edge: POST /v1/instances/{instance}/try (try_json.cc) and the
//     v2 infer's parameters (v2_json.cc);
//   - a task of instances.toml (src/house/config.cc), whose values a try
//     inherits;
//   - the broker's own validation of a TryRequest (Broker::Submit).
// The values are the ones docs/api.md and docs/house.md promise.
#pragma once

#include <cstddef>

#include "tbms/common/time.h"

namespace tbms::limits {

// tloc is in (0, kMaxTloc]: ten minutes is far beyond any interactive
// budget, and keeps deadline arithmetic (t0 + tloc, in microseconds) far
// from overflow. crossLag, a wait between two launches, has the same bound.
inline constexpr double kMaxTlocMs = 600'000;
inline constexpr Duration kMaxTloc = Millis(kMaxTlocMs);
inline constexpr double kMaxCrossLagMs = kMaxTlocMs;
inline constexpr Duration kMaxCrossLag = Millis(kMaxCrossLagMs);

// crossRequest is in [0, kMaxCrossRequest]: at most 1 + 16 attempts of one
// try in flight at once. More hedges than that only multiply the load.
inline constexpr int kMaxCrossRequest = 16;

// priority is in [-kMaxPriority, kMaxPriority]; higher is more urgent.
inline constexpr int kMaxPriority = 1000;

// Candidates of a try (and models of a task): the broker's default
// Options::max_candidates.
inline constexpr size_t kMaxCandidates = 32;

// A house mix nests at most kMaxMixDepth mixes deep (itself included) and
// runs at most kMaxMixModels models in all (its members' members, and so
// on): the house check refuses one past either. A try's own mix adds one
// level over house mixes, and its models are counted when it is expanded.
inline constexpr int kMaxMixDepth = 16;
inline constexpr size_t kMaxMixModels = 256;

}  // namespace tbms::limits
