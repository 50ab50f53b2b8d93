#include "tbms/sim/fleet_sim.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <random>

#include "tbms/batching/batcher.h"
#include "tbms/broker/broker.h"
#include "tbms/common/virtual_clock.h"
#include "tbms/loadgen/arrivals.h"
#include "tbms/report/histogram.h"
#include "tbms/tune/profile.h"
#include "worker_link.h"

namespace tbms {
namespace {

double Seconds(std::chrono::steady_clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Counts what a model's executor runs: batches, items, busy time, and the
// fastest service time relative to nominal (the floor the offline bound needs
// when service times jitter).
class CountingExecutor final : public Executor {
 public:
  CountingExecutor(Executor* inner, Duration base, Duration per_item)
      : inner_(inner), base_(base), per_item_(per_item) {}
  int replicas() const override { return inner_->replicas(); }
  void Run(int replica, const Batch& batch, Done done) override {
    ++batches;
    const auto n = static_cast<int64_t>(batch.items.size());
    items += static_cast<uint64_t>(n);
    inner_->Run(replica, batch, [this, open = open(), n, done = std::move(done)](BatchResult r) mutable {
      if (!open->load(std::memory_order_relaxed)) return;
      busy += r.service_time;
      const Duration nominal = base_ + per_item_ * n;
      if (nominal > Duration(0)) {
        min_factor = std::min(min_factor, static_cast<double>(r.service_time.count()) /
                                              static_cast<double>(nominal.count()));
      }
      done(std::move(r));
    });
  }

  uint64_t batches = 0, items = 0;
  Duration busy{0};
  double min_factor = 1.0;  // never above 1: the nominal time is the reference

 private:
  Executor* const inner_;
  const Duration base_, per_item_;
};

// One TBMS server, broker or worker: a broker and, per model it serves, an
// executor (simulated GPUs, or the link to the workers) and its batcher.
// Members are destroyed bottom-up: batchers before the executors they use.
struct Server {
  std::unique_ptr<Broker> broker;
  std::vector<std::unique_ptr<Executor>> executors;
  std::vector<std::unique_ptr<CountingExecutor>> counters;  // per model; null where its GPUs are elsewhere
  std::vector<std::unique_ptr<Batcher>> batchers;           // per model; null where it is not served
  TryRequest proto;  // every model, ranked; copied per try (a worker gets its tries from the links)
};

// What a server does with a model.
enum class Runs { kNothing, kGpus, kLink };

Runs WhatRuns(const FleetOptions& o, const FleetModel& m, bool worker) {
  if (o.workers == 0 || m.local) return worker ? Runs::kNothing : Runs::kGpus;
  return worker ? Runs::kGpus : Runs::kLink;
}

// What the tries' outcomes add up to.
struct Collector {
  explicit Collector(const FleetOptions& o)
      : quality(o.models.size()), answered_by(o.models.size()), budget_use(Histogram::RatioBounds()) {
    for (size_t m = 0; m < o.models.size(); ++m) quality[m] = o.models[m].quality;
    latency_us.reserve(o.trace.empty() ? o.requests : o.trace.size());
  }
  void Add(const TryResult& r, TimePoint now) {
    latency_us.push_back(r.elapsed.count());
    if (r.top_budget_use >= 0) budget_use.Observe(r.top_budget_use);
    last_done = std::max(last_done, now);
    if (r.answer) {
      ++answered;
      ++answered_by[static_cast<size_t>(r.rank)];
      quality_sum += quality[static_cast<size_t>(r.rank)];
      if (r.downgraded) ++downgraded[static_cast<size_t>(r.reason)];
    } else {
      ++no_answer[static_cast<size_t>(r.reason)];
    }
    int launched = 0;
    for (const AttemptReport& a : r.attempts) launched += a.state != AttemptState::kSkipped;
    if (launched > 1) extra_attempts += static_cast<uint64_t>(launched - 1);
  }

  std::vector<double> quality;
  std::vector<int64_t> latency_us;
  std::vector<uint64_t> answered_by;
  uint64_t answered = 0, extra_attempts = 0;
  std::array<uint64_t, kReasonCount> no_answer{}, downgraded{};
  Histogram budget_use;  // as tbms_top_budget_use_ratio
  double quality_sum = 0;
  TimePoint last_done{};
};

Status Validate(const FleetOptions& o) {
  auto rate_ok = [](double r) { return std::isfinite(r) && r >= 0.0 && r <= 1.0; };
  if (o.models.empty()) return InvalidArgument("name at least one model");
  if (o.models.size() > 32) return InvalidArgument("at most 32 models");
  for (const FleetModel& m : o.models) {
    if (m.name.empty()) return InvalidArgument("a model has no name");
    const std::string& n = m.name;
    for (double v : {m.est_ms, m.base_ms, m.per_item_ms}) {
      if (!std::isfinite(v) || v < 0 || v > 600'000) {
        return InvalidArgument(n + ": est, base and per-item times must be in [0, 600000] ms");
      }
    }
    if (m.replicas < 1 || m.replicas > 100000) return InvalidArgument(n + ": replicas must be in [1, 100000]");
    if (m.max_batch < 1 || m.max_batch > Batcher::kMaxBatchSize) {
      return InvalidArgument(n + ": max batch must be in [1, " + std::to_string(Batcher::kMaxBatchSize) + "]");
    }
    if (!std::isfinite(m.quality) || m.quality < 0) return InvalidArgument(n + ": quality must be >= 0");
  }
  if (o.servers < 1 || o.servers > 1'000'000) return InvalidArgument("servers must be in [1, 1000000]");
  if (o.workers < 0 || o.workers > 100'000) return InvalidArgument("workers must be in [0, 100000]");
  if (!std::isfinite(o.hop_ms) || o.hop_ms < 0 || o.hop_ms > 60'000) {
    return InvalidArgument("the hop's round trip must be in [0, 60000] ms");
  }
  const auto local = std::count_if(o.models.begin(), o.models.end(), [](const FleetModel& m) { return m.local; });
  if (local > 0 && o.workers == 0) {
    return InvalidArgument("local models need workers: without them every model is local");
  }
  if (o.workers > 0 && local == static_cast<ptrdiff_t>(o.models.size())) {
    return InvalidArgument("with workers, at least one model must run on them (not every model local)");
  }
  if (FleetGpus(o) > 10'000'000) return InvalidArgument("at most 10000000 GPUs in all");
  if (o.trace.empty()) {
    if (Status s = ValidateArrivalOptions({o.rate_qps, o.cv, o.seed}); !s.ok()) return s;
    if (o.requests < 1 || o.requests > 1'000'000'000) return InvalidArgument("requests must be in [1, 1e9]");
  } else {
    if (o.trace.size() > 1'000'000'000) return InvalidArgument("at most 1e9 requests in a trace");
    if (o.trace.front() < Duration(0) || !std::is_sorted(o.trace.begin(), o.trace.end())) {
      return InvalidArgument("trace: arrival times must be >= 0 and ascending");
    }
  }
  if (!std::isfinite(o.tloc_ms) || o.tloc_ms <= 0 || o.tloc_ms > 3'600'000) {
    return InvalidArgument("tloc must be in (0, 3600000] ms");
  }
  if (o.cross_request < 0 || o.cross_request > 1000) return InvalidArgument("crossRequest must be in [0, 1000]");
  for (double v : {o.cross_lag_ms, o.guard_ms, o.max_queue_delay_ms}) {
    if (!std::isfinite(v) || v < 0 || v > 3'600'000) {
      return InvalidArgument("crossLag, guard and max queue delay must be in [0, 3600000] ms");
    }
  }
  if (o.max_queue < 1) return InvalidArgument("max queue must be >= 1");
  if (Status s = CheckWarmupCount(o.warmup); !s.ok()) return InvalidArgument("warm-up count " + s.message());
  if (!std::isfinite(o.jitter_spread) || o.jitter_spread < 0 || o.jitter_spread > 10) {
    return InvalidArgument("jitter spread must be in [0, 10]");
  }
  if (!rate_ok(o.straggler_rate) || !rate_ok(o.failure_rate)) {
    return InvalidArgument("straggler and failure rates must be in [0, 1]");
  }
  if (!std::isfinite(o.straggler_factor) || o.straggler_factor < 1) {
    return InvalidArgument("straggler factor must be >= 1");
  }
  return OkStatus();
}

// Exact quantiles (the smallest value with at least q of the samples at or
// below it). Latencies are bounded by tloc, so counting is cheaper than
// selecting when tloc is short; nth_element otherwise.
std::vector<double> Quantiles(std::vector<int64_t>& v, const std::vector<double>& qs) {
  std::vector<double> out(qs.size(), 0.0);
  if (v.empty()) return out;
  auto rank = [&](double q) {
    const auto k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
    return std::clamp<size_t>(k, 1, v.size());  // 1-based
  };
  const int64_t lo = *std::min_element(v.begin(), v.end()), hi = *std::max_element(v.begin(), v.end());
  if (lo >= 0 && hi <= 4'000'000) {
    std::vector<uint32_t> count(static_cast<size_t>(hi) + 1, 0);
    for (int64_t x : v) ++count[static_cast<size_t>(x)];
    for (size_t i = 0; i < qs.size(); ++i) {
      const size_t want = rank(qs[i]);
      size_t seen = 0;
      for (size_t x = 0; x < count.size(); ++x) {
        seen += count[x];
        if (seen >= want) {
          out[i] = static_cast<double>(x) / 1000.0;
          break;
        }
      }
    }
    return out;
  }
  for (size_t i = 0; i < qs.size(); ++i) {
    const size_t k = rank(qs[i]) - 1;
    std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
    out[i] = static_cast<double>(v[k]) / 1000.0;
  }
  return out;
}

// Model `m`'s GPUs on server `index`.
SimulatedExecutor::Options SimulatedOptions(const FleetOptions& o, size_t m, int index) {
  const FleetModel& fm = o.models[m];
  SimulatedExecutor::Options so;
  so.model = fm.name;
  so.base = Millis(fm.base_ms);
  so.per_item = Millis(fm.per_item_ms);
  so.jitter = o.jitter;
  so.jitter_spread = o.jitter_spread;
  so.straggler_rate = o.straggler_rate;
  so.straggler_factor = o.straggler_factor;
  so.failure_rate = o.failure_rate;
  so.replicas = fm.replicas;
  so.seed = o.seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(index) * o.models.size() + m + 1;
  return so;
}

// Each server warms its own models, as tbms serve does at load ([warmup]).
Status WarmUp(const FleetOptions& o, size_t m, int index, Batcher* batcher, TimePoint now) {
  if (o.warmup == 0) return OkStatus();
  const int max_batch = o.models[m].max_batch;
  auto times = ProfileSimulated(SimulatedOptions(o, m, index),
                                {.max_batch = max_batch, .repeats = o.warmup, .sizes = WarmupSizes(max_batch, o.warmup)});
  if (!times.ok()) return times.status();
  SeedBatchTimes(*times, now, batcher->service_times());
  return OkStatus();
}

// A server's executor for model `m` (its simulated GPUs, or the link to the
// workers), counted when it runs on GPUs here.
StatusOr<Executor*> AddExecutor(const FleetOptions& o, size_t m, int index, Runs runs, VirtualClock* clock,
                                std::vector<Server>* workers, Server* s) {
  const FleetModel& fm = o.models[m];
  if (runs == Runs::kLink) {
    std::vector<WorkerLink::Worker> to;
    for (Server& w : *workers) to.push_back({w.broker.get(), w.batchers[m].get()});
    // As house_split sizes a broker's remote model: every worker GPU's batch in flight.
    const int in_flight = o.workers * fm.replicas * fm.max_batch;
    s->executors.push_back(
        std::make_unique<WorkerLink>(fm.name, std::move(to), in_flight, Millis(o.hop_ms), Millis(fm.est_ms), clock));
    return s->executors.back().get();
  }
  const SimulatedExecutor::Options so = SimulatedOptions(o, m, index);
  auto sim = SimulatedExecutor::Create(so, clock);
  if (!sim.ok()) return sim.status();
  s->executors.push_back(std::move(sim).value());
  s->counters[m] = std::make_unique<CountingExecutor>(s->executors.back().get(), so.base, so.per_item);
  return s->counters[m].get();
}

// Server `index` (workers are numbered after the servers); `workers` is
// where a broker's remote models go (empty without workers).
StatusOr<Server> MakeServer(const FleetOptions& o, int index, bool worker, VirtualClock* clock,
                            const std::shared_ptr<const Inputs>& inputs, std::vector<Server>* workers) {
  Server s;
  Broker::Options bo;
  bo.guard = Millis(o.guard_ms);
  bo.grace = Millis(o.guard_ms);  // as tbms serve
  bo.max_pending = 100'000'000;  // the fleet never refuses a try: it answers null instead
  auto broker = Broker::Create(bo, clock);
  if (!broker.ok()) return broker.status();
  s.broker = std::move(broker).value();
  const size_t n = o.models.size();
  s.counters.resize(n);
  s.batchers.resize(n);
  for (size_t m = 0; m < n; ++m) {
    const FleetModel& fm = o.models[m];
    const Runs runs = WhatRuns(o, fm, worker);
    if (runs == Runs::kNothing) continue;
    auto executor = AddExecutor(o, m, index, runs, clock, workers, &s);
    if (!executor.ok()) return executor.status();
    Batcher::Options bat;
    bat.model = fm.name;
    // A broker sends a worker one question per call (a TBMS worker refuses a batch of several).
    bat.max_batch_size = runs == Runs::kLink ? 1 : fm.max_batch;
    bat.max_queue_delay = runs == Runs::kLink ? Duration(0) : Millis(o.max_queue_delay_ms);
    bat.max_queue_size = o.max_queue;
    auto batcher = Batcher::Create(bat, clock, *executor, s.broker.get());
    if (!batcher.ok()) return batcher.status();
    s.batchers[m] = std::move(batcher).value();
    if (runs != Runs::kLink) TBMS_RETURN_IF_ERROR(WarmUp(o, m, index, s.batchers[m].get(), clock->Now()));
  }
  if (worker) return s;
  s.proto.inputs = inputs;
  for (size_t m = 0; m < n; ++m) {
    s.proto.AddModel(s.batchers[m]->model(), s.batchers[m].get(), Millis(o.models[m].est_ms));
  }
  s.proto.tloc = Millis(o.tloc_ms);
  s.proto.cross_request = o.cross_request;
  s.proto.cross_lag = Millis(o.cross_lag_ms);
  s.proto.hedge = o.hedge;
  return s;
}

}  // namespace

StatusOr<Balance> ParseBalance(std::string_view name) {
  if (name == "round-robin") return Balance::kRoundRobin;
  if (name == "least-loaded") return Balance::kLeastLoaded;
  return InvalidArgument("unknown balance '" + std::string(name) + "' (expected round-robin or least-loaded)");
}

int Hosts(const FleetOptions& o, const FleetModel& m) {
  return o.workers > 0 && !m.local ? o.workers : o.servers;
}

int64_t FleetGpus(const FleetOptions& o) {
  int64_t gpus = 0;
  for (const FleetModel& m : o.models) gpus += int64_t{m.replicas} * Hosts(o, m);
  return gpus;
}

double CapacityQps(const FleetModel& m, int replicas, double tloc_ms) {
  int b = m.max_batch;
  auto t = [&](int n) { return m.base_ms + m.per_item_ms * n; };
  while (b >= 1 && tloc_ms > 0 && t(b) > tloc_ms) --b;
  if (b < 1) return 0;
  if (t(b) <= 0) return std::numeric_limits<double>::infinity();
  return replicas * b * 1000.0 / t(b);
}

std::vector<Duration> FleetTrace(const FleetOptions& o) {
  if (!o.trace.empty()) return o.trace;
  return Trace(ArrivalOptions{o.rate_qps, o.cv, o.seed}, o.requests);
}

StatusOr<SimResult> RunFleet(const FleetOptions& o) {
  if (Status s = Validate(o); !s.ok()) return s;
  using WallClock = std::chrono::steady_clock;
  SimResult out;
  out.servers = o.servers;
  out.workers = o.workers;
  out.gpus = static_cast<int>(FleetGpus(o));  // Validate bounds it

  auto t0 = WallClock::now();
  const std::vector<Duration> generated = o.trace.empty() ? FleetTrace(o) : std::vector<Duration>{};
  const std::vector<Duration>& trace = o.trace.empty() ? generated : o.trace;
  if (trace.empty()) return InvalidArgument("the trace is empty");
  out.trace_wall_s = Seconds(WallClock::now() - t0);
  out.requests = trace.size();
  const Duration span = trace.back() - trace.front();
  out.offered_qps = span > Duration(0) ? static_cast<double>(trace.size() - 1) / ToMillis(span) * 1000.0 : 0;

  t0 = WallClock::now();
  {
    VirtualClock clock;
    // One Inputs for every try (a million of them): simulated executors never read `over`.
    const auto inputs = std::make_shared<const Inputs>("q");
    std::vector<Server> workers;  // declared first: the brokers' links use them until the brokers go
    for (int i = 0; i < o.workers; ++i) {
      auto w = MakeServer(o, o.servers + i, /*worker=*/true, &clock, inputs, nullptr);
      if (!w.ok()) return w.status();
      workers.push_back(std::move(w).value());
    }
    std::vector<Server> servers;
    servers.reserve(static_cast<size_t>(o.servers));
    for (int i = 0; i < o.servers; ++i) {
      auto s = MakeServer(o, i, /*worker=*/false, &clock, inputs, &workers);
      if (!s.ok()) return s.status();
      servers.push_back(std::move(s).value());
    }
    Collector collector(o);
    Collector* c = &collector;
    VirtualClock* vc = &clock;
    std::mt19937_64 pick(o.seed ^ 0xB5AD4ECEDA1CE2A9ULL);
    std::uniform_int_distribution<size_t> any(0, servers.size() - 1);
    size_t next_server = 0;
    // The arrivals each server got, for the routed bound.
    const bool route_bound = o.offline_bound && servers.size() > 1 && o.workers == 0;
    std::vector<std::vector<Duration>> routed(route_bound ? servers.size() : 0);
    const size_t every = std::max<size_t>(1, o.progress_every);
    for (size_t k = 0; k < trace.size(); ++k) {
      clock.AdvanceTo(TimePoint(trace[k]));
      size_t target = next_server;
      if (o.balance == Balance::kRoundRobin) {
        next_server = next_server + 1 == servers.size() ? 0 : next_server + 1;
      } else if (servers.size() > 1) {  // the less loaded of two random picks
        const size_t a = any(pick), b = any(pick);
        target = servers[b].broker->pending() < servers[a].broker->pending() ? b : a;
      }
      Server& s = servers[target];
      if (!routed.empty()) routed[target].push_back(trace[k]);
      Status st = s.broker->Submit(s.proto, [c, vc](TryResult r) { c->Add(r, vc->Now()); });
      if (!st.ok()) return st;  // unreachable: the request is well formed, max_pending is huge
      if (o.progress && (k + 1) % every == 0) o.progress(k + 1, trace.size(), clock.Now().time_since_epoch());
    }
    if (!clock.RunUntilIdle(std::numeric_limits<size_t>::max())) {
      return Internal("the simulation did not settle");
    }
    if (o.progress && trace.size() % every != 0) {
      o.progress(trace.size(), trace.size(), clock.Now().time_since_epoch());
    }
    if (collector.latency_us.size() != trace.size()) return Internal("a try got no result");

    const auto n = static_cast<double>(trace.size());
    out.answered = collector.answered;
    out.top_answered = collector.answered_by[0];
    out.answered_pct = 100.0 * static_cast<double>(collector.answered) / n;
    out.top_pct = 100.0 * static_cast<double>(out.top_answered) / n;
    out.effective_quality = collector.quality_sum / n;
    out.extra_attempts_pct = 100.0 * static_cast<double>(collector.extra_attempts) / n;
    out.no_answer = collector.no_answer;
    out.downgraded = collector.downgraded;
    double sum = 0;
    for (int64_t v : collector.latency_us) sum += static_cast<double>(v);
    out.mean_ms = sum / n / 1000.0;
    const std::vector<double> q = Quantiles(collector.latency_us, {0.50, 0.99, 0.999});
    out.p50_ms = q[0];
    out.p99_ms = q[1];
    out.p999_ms = q[2];
    out.budget_use_p90 = collector.budget_use.Read().Quantile(0.9);
    out.simulated_s = ToMillis(collector.last_done.time_since_epoch()) / 1000.0;
    // GPUs are busy until the last batch ends, which may be after the last
    // answer (a batch whose results were no longer wanted).
    const double busy_span_s = std::max(ToMillis(clock.Now().time_since_epoch()) / 1000.0, 1e-9);
    double top_floor = 1.0;
    for (size_t m = 0; m < o.models.size(); ++m) {
      ModelResult r;
      r.name = o.models[m].name;
      r.gpus = o.models[m].replicas * Hosts(o, o.models[m]);
      r.answered = collector.answered_by[m];
      Duration busy{0};
      for (const std::vector<Server>* hosts : {&servers, &workers}) {
        for (const Server& s : *hosts) {
          const CountingExecutor* e = s.counters[m].get();
          if (e == nullptr) continue;  // its GPUs are on the other side
          r.batches += e->batches;
          r.items += e->items;
          busy += e->busy;
          if (m == 0) top_floor = std::min(top_floor, e->min_factor);
        }
      }
      r.busy_s = ToMillis(busy) / 1000.0;
      r.utilization = r.busy_s / (r.gpus * busy_span_s);
      r.mean_batch = r.batches ? static_cast<double>(r.items) / static_cast<double>(r.batches) : 0;
      out.models.push_back(std::move(r));
    }
    // A hair below the floor, so that rounding in the double arithmetic can
    // never lift the bound's service times above a batch that really ran.
    out.bound_floor = top_floor < 1.0 ? top_floor * (1 - 1e-12) : 1.0;
    if (!routed.empty()) {
      const auto bound_start = WallClock::now();
      TopModelShape shape;
      shape.base = Millis(o.models[0].base_ms);
      shape.per_item = Millis(o.models[0].per_item_ms);
      shape.max_batch = o.models[0].max_batch;
      shape.replicas = o.models[0].replicas;
      OfflineBound sum;
      for (const std::vector<Duration>& arrivals : routed) {
        auto b = ComputeOfflineBound(arrivals, Millis(o.tloc_ms), shape);
        if (!b.ok()) return b.status();
        sum.requests += b->requests;
        sum.usable_batch = b->usable_batch;
        sum.capacity_bound += b->capacity_bound;
        sum.upper_bound += b->upper_bound;
        sum.greedy += b->greedy;
        sum.greedy_batches += b->greedy_batches;
      }
      out.routed_bound = sum;
      if (sum.upper_bound) {
        out.top_vs_routed = static_cast<double>(out.top_answered) / static_cast<double>(sum.upper_bound);
      }
      out.bound_wall_s += Seconds(WallClock::now() - bound_start);
    }
  }  // servers (batchers first), then the clock
  out.wall_s = Seconds(WallClock::now() - t0) - out.bound_wall_s;

  if (o.offline_bound) {
    t0 = WallClock::now();
    const FleetModel& top = o.models[0];
    TopModelShape shape;
    shape.max_batch = top.max_batch;
    shape.replicas = top.replicas * Hosts(o, top);
    shape.base = Millis(top.base_ms);
    shape.per_item = Millis(top.per_item_ms);
    auto nominal = ComputeOfflineBound(trace, Millis(o.tloc_ms), shape);
    if (!nominal.ok()) return nominal.status();
    out.bound = *nominal;
    if (out.bound_floor < 1.0) {
      // Every top-model batch of this run took at least floor x nominal:
      // bound the schedules whose batches are that fast (rounded down).
      shape.base = Duration(static_cast<int64_t>(std::floor(shape.base.count() * out.bound_floor)));
      shape.per_item = Duration(static_cast<int64_t>(std::floor(shape.per_item.count() * out.bound_floor)));
      auto fastest = ComputeOfflineBound(trace, Millis(o.tloc_ms), shape);
      if (!fastest.ok()) return fastest.status();
      out.fastest_bound = *fastest;
    } else {
      out.fastest_bound = *nominal;
    }
    auto ratio = [&](size_t bound) {
      return bound ? static_cast<double>(out.top_answered) / static_cast<double>(bound) : 0.0;
    };
    out.top_vs_bound = ratio(out.bound->upper_bound);
    out.top_vs_fastest = ratio(out.fastest_bound->upper_bound);
    out.bound_wall_s += Seconds(WallClock::now() - t0);
  }
  return out;
}

}  // namespace tbms
