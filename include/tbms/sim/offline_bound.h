// Offline bounds: for a recorded arrival trace, how many requests could the
// top model alone have answered within tloc, by a planner that knows the
// whole trace in advance?
//
// Two numbers bracket the (hard to compute) offline optimum OPT:
//   greedy <= OPT <= upper_bound
// - `upper_bound` is provably an upper bound: no schedule of batches on the
//   given replicas, however clairvoyant, answers more requests in time (the
//   proof is at the top of offline_bound.cc). It combines capacity (GPU time
//   within windows of the trace) with density (a batch of b needs b arrivals
//   within tloc - T(b) of each other). TBMS's top-model answers divided by it
//   is a conservative efficiency ratio.
// - `greedy` is achievable: the number of requests answered in time by an
//   explicit offline schedule (earliest deadline first, largest batch that
//   still makes every member's deadline, waiting for known arrivals while
//   that grows the batch). It is a reference, not an optimum.
// Both use the nominal service time T(b) = base + per_item * b of a batch of
// b; with jitter, pass the fastest possible time to keep the bound sound.
// Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <vector>

#include "tbms/common/status.h"
#include "tbms/common/time.h"

namespace tbms {

struct TopModelShape {
  Duration base{0};      // T(b) = base + per_item * b
  Duration per_item{0};
  int max_batch = 8;     // B
  int replicas = 1;      // M, identical, each runs one batch at a time
};

struct OfflineBoundOptions {
  // The upper bound minimises over partitions of the trace into consecutive
  // groups whose boundaries lie on a time grid of this step (0: tloc / 8),
  // each group spanning at most `horizon` non-empty grid cells. Any choice is
  // sound; finer and longer is tighter and slower (O(cells * horizon)). Very
  // long sparse traces get a coarser grid and a shorter horizon, so that the
  // work stays bounded (a second or so).
  Duration grid{0};
  size_t horizon = 512;
};

struct OfflineBound {
  size_t requests = 0;
  int usable_batch = 0;        // B' = the largest batch <= B with T(B') <= tloc
  size_t capacity_bound = 0;   // the whole trace as one window (the plain capacity bound, refined by density)
  size_t upper_bound = 0;      // the best partition into windows (<= capacity_bound)
  size_t greedy = 0;           // answered in time by the greedy offline schedule
  size_t greedy_batches = 0;
};

// The most items one replica can finish in batches of 1..usable_batch that
// all lie within an interval of length `window` (k batches carry any total
// in [k, k * usable_batch]; the best k is found in O(1)). SIZE_MAX when
// batches take no time.
size_t ReplicaCapacity(Duration window, const TopModelShape& shape, int usable_batch);

// `arrivals`: arrival times since the start of the trace, ascending. Each
// request's deadline is its arrival + tloc; it is answered in time iff its
// batch starts no earlier than its arrival and ends no later than its deadline.
StatusOr<OfflineBound> ComputeOfflineBound(const std::vector<Duration>& arrivals, Duration tloc,
                                           const TopModelShape& shape,
                                           const OfflineBoundOptions& options = {});

}  // namespace tbms
