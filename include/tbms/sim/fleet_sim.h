// Fleet simulation: the real broker, batchers and predictor on a virtual
// clock, with simulated executors, replaying an arrival trace over a fleet of
// identical TBMS servers. The way to plan a fleet beyond one machine (`tbms
// sim`): how many GPUs of which model, at what load, for what share of
// top-model answers and what tail latency.
//
// The fleet: `servers` identical servers, each a Broker with one Batcher and
// one SimulatedExecutor per model (FleetModel::replicas GPUs each), all on
// one VirtualClock. A load balancer sends each arriving try to one server
// (round-robin, or the less loaded of two random picks). With servers = 1 the
// fleet is one pooled server: every model's GPUs behind one batcher.
//
// The Kubernetes topology (deploy/k8s) when `workers` > 0: the servers are
// brokers, and every model not `local` runs on `workers` TBMS workers that
// the brokers call as a remote model (src/sim/worker_link.h: one question
// per call, the worker with the fewest calls in flight, `hop_ms` round trip,
// the worker's expected wait shared back). A local model runs on every
// broker, as the manifests keep the cheapest model there.
//
// Every try ranks all models in the order given (best first), with the same
// tloc, crossRequest and crossLag. The run is deterministic for a seed.
// Thread-compatible: one run uses one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "tbms/backends/simulated.h"
#include "tbms/broker/try.h"
#include "tbms/common/status.h"
#include "tbms/common/time.h"
#include "tbms/sim/offline_bound.h"

namespace tbms {

struct FleetModel {
  std::string name;
  double est_ms = 0;       // the caller's estimate: the prior until service times are learned
  double base_ms = 0;      // a batch of b takes base + per_item * b (nominal)
  double per_item_ms = 0;
  int replicas = 1;        // GPUs per server
  int max_batch = 8;
  double quality = 1.0;    // score of this model's answer, for effective quality
  bool local = false;      // with workers: runs on the brokers (replicas per broker), not the workers
};

enum class Balance { kRoundRobin, kLeastLoaded };
StatusOr<Balance> ParseBalance(std::string_view name);  // round-robin, least-loaded

struct FleetOptions {
  std::vector<FleetModel> models;  // rank order, best first
  int servers = 1;
  Balance balance = Balance::kRoundRobin;
  int workers = 0;       // > 0: the servers are brokers in front of this many workers
  double hop_ms = 1.0;   // broker -> worker -> broker round trip, with workers

  // The trace: `requests` arrivals at `rate_qps` (fleet total) with the given
  // coefficient of variation (1: Poisson, > 1: bursty), unless `trace` is set.
  double rate_qps = 1000;
  double cv = 1.0;
  size_t requests = 100000;
  std::vector<Duration> trace;  // recorded arrival times since start, ascending

  double tloc_ms = 50;
  int cross_request = 1;
  double cross_lag_ms = 10;
  Hedge hedge = Hedge::kAtRisk;
  double guard_ms = 1;

  // [warmup] count of every model (0: none): each server runs this many
  // batches of each size before the trace starts, so its first tries are
  // planned on the models' own times, not on the callers' ests.
  int warmup = 0;

  size_t max_queue = 1024;        // per model per server
  double max_queue_delay_ms = 0;

  SimulatedExecutor::Jitter jitter = SimulatedExecutor::Jitter::kNone;
  double jitter_spread = 0.1;
  double straggler_rate = 0;
  double straggler_factor = 10;
  double failure_rate = 0;
  uint64_t seed = 1;

  bool offline_bound = true;  // compute the top model's offline bound for the trace
  // Called every `progress_every` submitted tries, and once at the end.
  std::function<void(size_t submitted, size_t total, Duration simulated)> progress;
  size_t progress_every = 100000;
};

struct ModelResult {
  std::string name;
  int gpus = 0;             // over the whole fleet
  uint64_t answered = 0;    // tries this model answered
  uint64_t batches = 0;
  uint64_t items = 0;       // items run, including those whose answer was not used
  double busy_s = 0;        // GPU-seconds busy
  double utilization = 0;   // busy / (gpus * time until the last batch ended)
  double mean_batch = 0;
};

struct SimResult {
  size_t requests = 0;
  int servers = 0;              // brokers, with workers
  int workers = 0;
  int gpus = 0;
  double offered_qps = 0;       // requests / trace span
  uint64_t answered = 0;        // answered by tloc (any model)
  uint64_t top_answered = 0;    // answered by the top model
  double answered_pct = 0;
  double top_pct = 0;
  double effective_quality = 0;   // mean quality per try (no answer: 0)
  double extra_attempts_pct = 0;  // launches beyond the first per try, % of tries
  double p50_ms = 0, p99_ms = 0, p999_ms = 0, mean_ms = 0;  // every try, answered or not
  // The autoscaling signal (deploy/k8s/base/autoscaling.yaml): the p90 over
  // every try the servers (brokers) began of TryResult::top_budget_use, read
  // from the buckets of tbms_top_budget_use_ratio as Prometheus's
  // histogram_quantile reads them.
  double budget_use_p90 = 0;
  std::array<uint64_t, kReasonCount> no_answer{};   // by Reason
  std::array<uint64_t, kReasonCount> downgraded{};  // answered below rank 0, by Reason
  std::vector<ModelResult> models;
  double simulated_s = 0;       // virtual time from start to the last try's end
  double wall_s = 0;            // run time of the simulation
  double trace_wall_s = 0;      // generating the trace
  // The top model's offline bounds for this trace over the whole fleet (all
  // its GPUs pooled, which no load balancer can beat). `bound` uses the
  // nominal service times: with jitter none it is a proof that no schedule
  // answers more. With jitter a batch can beat nominal, so `fastest_bound`
  // lets every batch run as fast as the fastest one of this run did,
  // relative to nominal (`bound_floor` x nominal): sound for the run, looser.
  std::optional<OfflineBound> bound, fastest_bound;
  double bound_floor = 1.0;
  double top_vs_bound = 0;      // top_answered / bound->upper_bound
  double top_vs_fastest = 0;    // top_answered / fastest_bound->upper_bound
  // With several servers and no workers: the sum over servers of the nominal bound for the
  // arrivals the balancer sent to each, on that server's top-model GPUs. What
  // the top model could have answered given this routing (at most `bound`:
  // the gap is the cost of splitting the fleet).
  std::optional<OfflineBound> routed_bound;
  double top_vs_routed = 0;
  double bound_wall_s = 0;
};

// Checks the options (INVALID_ARGUMENT with what is wrong) and runs.
StatusOr<SimResult> RunFleet(const FleetOptions& options);

// The trace RunFleet replays when FleetOptions::trace is empty.
std::vector<Duration> FleetTrace(const FleetOptions& options);

// How many hosts run `model`: the workers, or every server (broker).
int Hosts(const FleetOptions& options, const FleetModel& model);
// GPUs in the whole fleet: every model's replicas on every host that runs it.
int64_t FleetGpus(const FleetOptions& options);

// The most `model` can serve per second on `replicas` GPUs at its nominal
// service time: replicas * b * 1000 / T(b), b the largest batch (<= max_batch)
// with T(b) <= tloc_ms; no tloc limit when tloc_ms <= 0 (then b = max_batch,
// the benchmark scenarios' "capacity"). 0 if not even one item fits.
double CapacityQps(const FleetModel& model, int replicas, double tloc_ms = 0);

}  // namespace tbms
