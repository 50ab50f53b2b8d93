// The tuner's arithmetic (opiConfigure): from a model's batch-time curve and
// a goal (a QPS to carry, a lag not to exceed), the batch size, queue delay
// and replica count to serve it with. Pure functions; thread-safe.
//
// The talk's formulas, for batch size b taking T_b ms on one replica that
// carries q = Q / replicas requests per second:
//   QPS_max(b) = b x 1000 / T_b                 what one replica can carry
//   lag(b, q)  = T_b + (1000 / q) (b - 1) / 2    service plus the mean wait for the batch to fill
//   occupancy  = q / QPS_max(b)                  the share of time the replica is busy
// The lag formula holds while a replica is free each time its next batch
// has filled (occupancy <= 1); the goal's max_occupancy keeps headroom for
// bursts above the mean rate. More replicas lower the occupancy but raise
// the wait for a batch to fill, so a batch size that misses the lag on one
// replica never meets it on more; a smaller batch on more replicas may.
#pragma once

#include <string>
#include <vector>

#include "tbms/common/status.h"
#include "tbms/tune/batch_curve.h"

namespace tbms {

struct TuneGoal {
  double qps = 0;             // requests per second the model must carry, > 0
  double lag_ms = 0;          // the lag (queue wait + service) not to exceed, > 0
  double max_occupancy = 0.8; // in (0, 1]: the busiest a replica may be planned
  int max_replicas = 64;      // in [1, Batcher::kMaxReplicas]
};

// OK, or INVALID_ARGUMENT naming the bad field.
Status ValidateTuneGoal(const TuneGoal& goal);

// One configuration and what the formulas predict for it.
struct OperatingPoint {
  int batch_size = 1;
  int replicas = 1;
  double batch_ms = 0;        // T_b
  double qps_max = 0;         // per replica: b x 1000 / T_b
  double queue_delay_ms = 0;  // max_queue_delay: the time b items take to arrive at Q / replicas
  double lag_ms = 0;          // the predicted mean lag
  double occupancy = 0;       // per replica
  double cost_ms = 0;         // device time per response: T_b / b
  bool meets_qps = false;     // occupancy <= max_occupancy
  bool meets_lag = false;     // lag <= the goal's
  bool meets() const { return meets_qps && meets_lag; }
};

OperatingPoint Evaluate(const BatchCurve& curve, int batch_size, int replicas, const TuneGoal& goal);

struct Recommendation {
  // Fewest replicas, then the lowest lag, among the points that meet the
  // goal; when none does, the point that carries the QPS with the lowest lag
  // (or, if none carries it, the one closest to carrying it), with met false.
  OperatingPoint best;
  bool met = false;
  // No batch size meets both on one replica, but more replicas do (the
  // talk's "more GPUs satisfy both").
  bool needs_more_replicas = false;
  std::vector<OperatingPoint> one_replica;      // every batch size on one replica
  std::vector<OperatingPoint> fewest_replicas;  // every batch size with the fewest replicas that carry the QPS
  // The lowest lag with r replicas, r = 1 .. max_replicas (0 where no batch
  // size carries the QPS on r).
  std::vector<double> lag_by_replicas;
};

// `curve` must have at least one point and the goal must be valid.
Recommendation Recommend(const BatchCurve& curve, const TuneGoal& goal);

}  // namespace tbms
