// tbms sim: plans a fleet beyond one machine. Replays an arrival trace (1M
// requests by default) through the real broker, batchers and predictor on a
// virtual clock, with simulated GPUs, over a fleet of identical TBMS servers
// behind a load balancer, and prints what the benchmark scenarios report:
// % answered by tloc, % answered by the top model, effective quality,
// p50/p99/p99.9 latency, extra attempts % (the cost of hedging); per model,
// GPUs, share, utilization and batch size; the top model's offline bound
// (what a planner knowing the whole trace could have answered with it) and
// TBMS's ratio to it; and the run time.
// Exit 0 on a completed run, 2 on bad flags, 1 if the simulation fails.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "commands.h"
#include "format.h"
#include "model_flags.h"
#include "ramp_spec.h"
#include "replicas_flag.h"
#include "tbms/common/json_writer.h"
#include "tbms/loadgen/arrivals.h"
#include "tbms/server/simulate_spec.h"
#include "tbms/sim/fleet_sim.h"
#include "tbms/sim/ramp.h"
#include "tbms/tune/profile.h"

namespace tbms::tools {
namespace {

struct SimFlags {
  ModelFlags model{.jitter = "lognormal", .warmup = 8};  // batching, simulator shape, guard; warmed as the demo house
  std::string models = "embedding=35,svm=25,bayes=15,keysearch=5";
  std::string quality;    // NAME=Q,...; unnamed models: 1, 0.8, 0.6, ... by rank
  int gpus = 1000;
  int gpus_per_server = 8;
  int servers = 0;        // 0: gpus / GPUs per server
  std::string replicas;   // GPUs per server, in model order: overrides the split by cost
  std::string balance = "round-robin";
  int workers = 0;        // > 0: the Kubernetes topology, --brokers in front of this many workers
  int brokers = 2;
  std::string local;      // NAME,...: models the brokers run themselves
  double hop_ms = 1.0;
  std::string ramp;       // FROM:TO:STEPS, load multiples
  double hpa_target = 0.9;
  bool gpus_given = false, servers_given = false;  // refused with --workers; together, they size each server
  double rate = 0;        // 0: --load x the top model's capacity
  double load = 1.0;
  double cv = 1;
  size_t requests = 1'000'000;
  std::string trace;      // a file of arrival times (ms), instead of rate/cv/requests
  double tloc = 50;
  int cross_request = 1;
  double cross_lag = 10;
  std::string hedge = "at_risk";
  bool no_bound = false;
  bool json = false;
  bool quiet = false;
};

StatusOr<double> ParseNumber(std::string_view text, std::string_view what) {
  double v;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || !std::isfinite(v)) {
    return InvalidArgument("bad number '" + std::string(text) + "' in " + std::string(what));
  }
  return v;
}

std::vector<std::string_view> Split(std::string_view s, char separator = ',') {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t at = s.find(separator);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

// GPUs per server for each model, in proportion to its single-item time (its
// cost per request), at least one each; the rest by largest remainder, ties
// to the better rank.
StatusOr<std::vector<int>> SplitByCost(const std::vector<FleetModel>& models, int gpus) {
  const int n = static_cast<int>(models.size());
  if (gpus < n) {
    return InvalidArgument("--gpus-per-server " + std::to_string(gpus) + " is less than one GPU per model (" +
                           std::to_string(n) + " models)");
  }
  double total = 0;
  for (const FleetModel& m : models) total += m.base_ms + m.per_item_ms;
  std::vector<double> quota(models.size());
  std::vector<int> out(models.size());
  int left = gpus;
  for (size_t i = 0; i < models.size(); ++i) {
    quota[i] = total > 0 ? (models[i].base_ms + models[i].per_item_ms) / total * gpus : double(gpus) / n;
    out[i] = std::max(1, static_cast<int>(std::floor(quota[i])));
    left -= out[i];
  }
  while (left < 0) {  // the minimum of one pushed us over: take from the most over quota
    size_t most = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] > 1 && (out[most] <= 1 || out[i] - quota[i] > out[most] - quota[most])) most = i;
    }
    --out[most];
    ++left;
  }
  for (; left > 0; --left) {
    size_t best = 0;
    for (size_t i = 1; i < out.size(); ++i) {
      if (quota[i] - out[i] > quota[best] - out[best]) best = i;
    }
    ++out[best];
  }
  return out;
}

StatusOr<std::vector<Duration>> ReadTrace(const std::string& path) {
  std::ifstream in(path);
  if (!in) return InvalidArgument("--trace: cannot read " + path);
  std::vector<Duration> out;
  std::string line;
  for (size_t no = 1; std::getline(in, line); ++no) {
    const size_t start = line.find_first_not_of(" \t\r");
    if (start == std::string::npos || line[start] == '#') continue;
    const size_t end = line.find_last_not_of(" \t\r");
    auto ms = ParseNumber(std::string_view(line).substr(start, end - start + 1), "--trace line " + std::to_string(no));
    if (!ms.ok()) return ms.status();
    if (*ms < 0) return InvalidArgument("--trace: negative time on line " + std::to_string(no));
    out.push_back(Millis(*ms));
  }
  if (out.empty()) return InvalidArgument("--trace: no arrival times in " + path);
  return out;
}

StatusOr<FleetOptions> Options(const SimFlags& f) {
  FleetOptions o;
  SimulateDefaults d;
  auto specs = ParseSimulateSpec(f.models, d);
  if (!specs.ok()) {
    std::string m = specs.status().message();
    if (m.rfind("--simulate", 0) == 0) m.replace(0, 10, "--models");
    return InvalidArgument(m);
  }
  for (size_t i = 0; i < specs->size(); ++i) {
    const SimulatedModelSpec& s = (*specs)[i];
    FleetModel m;
    m.name = s.simulated.model;
    m.est_ms = ToMillis(s.default_est);
    m.base_ms = ToMillis(s.simulated.base);
    m.per_item_ms = ToMillis(s.simulated.per_item);
    m.max_batch = f.model.max_batch;
    m.quality = std::max(0.0, 1.0 - 0.2 * static_cast<double>(i));
    o.models.push_back(std::move(m));
  }
  std::set<std::string> scored;
  for (std::string_view item : Split(f.quality)) {
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) return InvalidArgument("--quality: expected NAME=SCORE, got '" + std::string(item) + "'");
    auto q = ParseNumber(item.substr(eq + 1), "--quality");
    if (!q.ok()) return q.status();
    if (*q < 0) return InvalidArgument("--quality: scores must be >= 0");
    auto it = std::find_if(o.models.begin(), o.models.end(), [&](const FleetModel& m) { return m.name == item.substr(0, eq); });
    if (it == o.models.end()) return InvalidArgument("--quality: no model named '" + std::string(item.substr(0, eq)) + "'");
    if (!scored.insert(it->name).second) return InvalidArgument("--quality: '" + it->name + "' is scored twice");
    it->quality = *q;
  }
  std::vector<int> per_server;
  if (!f.replicas.empty()) {
    const std::string flag = kReplicasFlag;
    for (std::string_view item : Split(f.replicas)) {
      auto v = ParseNumber(item, flag);
      if (!v.ok()) return v.status();
      if (*v < 1 || *v > 100000 || *v != std::floor(*v)) return InvalidArgument(flag + ": counts must be whole, in [1, 100000]");
      per_server.push_back(static_cast<int>(*v));
    }
    if (per_server.size() != o.models.size()) {
      return InvalidArgument(flag + ": give one count per model (" + std::to_string(o.models.size()) + ")");
    }
  } else {
    // --gpus G --servers S: each server gets G / S of the fleet's GPUs (--servers 1 pools them).
    const int gpus_per_server = f.gpus_given && f.servers_given ? f.gpus / std::max(f.servers, 1) : f.gpus_per_server;
    if (gpus_per_server < 1) return InvalidArgument("--gpus " + std::to_string(f.gpus) + " is fewer than --servers");
    auto split = SplitByCost(o.models, gpus_per_server);
    if (!split.ok()) return split.status();
    per_server = *split;
  }
  int server_gpus = 0;
  for (size_t i = 0; i < per_server.size(); ++i) {
    o.models[i].replicas = per_server[i];
    server_gpus += per_server[i];
  }
  for (std::string_view name : Split(f.local)) {
    auto it = std::find_if(o.models.begin(), o.models.end(), [&](const FleetModel& m) { return m.name == name; });
    if (it == o.models.end()) return InvalidArgument("--local: no model named '" + std::string(name) + "'");
    it->local = true;
  }
  if (f.workers > 0 && (f.gpus_given || f.servers_given)) {
    return InvalidArgument("with --workers the fleet is --brokers x --workers: leave out --gpus and --servers");
  }
  if (f.workers == 0 && !f.local.empty()) return InvalidArgument("--local needs --workers");
  o.workers = f.workers;
  o.hop_ms = f.hop_ms;
  o.servers = f.workers > 0 ? f.brokers : f.servers > 0 ? f.servers : f.gpus / server_gpus;
  if (o.servers < 1) {
    return InvalidArgument("--gpus " + std::to_string(f.gpus) + " is fewer than one server's " +
                           std::to_string(server_gpus));
  }
  auto balance = ParseBalance(f.balance);
  if (!balance.ok()) return balance.status();
  o.balance = *balance;
  if (!f.trace.empty()) {
    auto trace = ReadTrace(f.trace);
    if (!trace.ok()) return trace.status();
    o.trace = std::move(trace).value();
  }
  o.rate_qps = f.rate > 0 ? f.rate : f.load * CapacityQps(o.models[0], o.models[0].replicas * Hosts(o, o.models[0]));
  if (f.rate == 0 && o.trace.empty() && !(o.rate_qps > 0 && o.rate_qps <= kMaxArrivalRate)) {
    // --load is a multiple of the top model's capacity: say so, not the rate it came to.
    return InvalidArgument("--load " + Fixed(f.load, 2) + " x " + o.models[0].name + "'s capacity comes to " +
                           Fixed(o.rate_qps, 0) + " requests per second, outside (0, " + Fixed(kMaxArrivalRate, 0) +
                           "]: give --rate, or a smaller fleet or load");
  }
  o.cv = f.cv;
  o.requests = f.requests;
  o.tloc_ms = f.tloc;
  o.cross_request = f.cross_request;
  o.cross_lag_ms = f.cross_lag;
  const std::optional<Hedge> hedge = ParseHedge(f.hedge);
  if (!hedge) return InvalidArgument("--hedge must be " + std::string(kHedgeChoices));
  o.hedge = *hedge;
  if (Status s = CheckWarmupCount(f.model.warmup); !s.ok()) return InvalidArgument("--warmup " + s.message());
  o.warmup = f.model.warmup;
  o.guard_ms = f.model.guard_ms;
  o.max_queue = f.model.max_queue;
  o.max_queue_delay_ms = f.model.max_queue_delay_ms;
  auto jitter = ParseJitter(f.model.jitter);
  if (!jitter.ok()) return jitter.status();
  o.jitter = *jitter;
  o.jitter_spread = f.model.jitter_spread;
  o.straggler_rate = f.model.straggler_rate;
  o.failure_rate = f.model.failure_rate;
  o.seed = f.model.seed;
  o.offline_bound = !f.no_bound;
  return o;
}

std::string ReasonList(const std::array<uint64_t, kReasonCount>& counts) {
  std::string out;
  for (Reason r : kReasons) {
    const uint64_t c = counts[static_cast<size_t>(r)];
    if (c) out += (out.empty() ? "" : ", ") + std::string(ReasonName(r)) + " " + std::to_string(c);
  }
  return out.empty() ? "none" : out;
}

// "per server: embedding 5, ..." or, with workers, "per worker: ...; per broker: ...".
std::string PerHost(const FleetOptions& o) {
  std::string worker, server;
  for (const FleetModel& m : o.models) {
    std::string& to = o.workers > 0 && !m.local ? worker : server;
    to += (to.empty() ? "" : ", ") + m.name + " " + std::to_string(m.replicas);
  }
  if (o.workers == 0) return "per server: " + server;
  return "per worker: " + worker + (server.empty() ? "" : "; per broker: " + server);
}

std::string FleetLine(const FleetOptions& o, const SimFlags& f) {
  const int64_t gpus = FleetGpus(o);
  if (o.workers == 0) {
    return std::to_string(o.servers) + " server(s) x " + std::to_string(gpus / o.servers) + " GPUs = " +
           std::to_string(gpus) + " GPUs (" + PerHost(o) + "), " + f.balance;
  }
  return std::to_string(o.servers) + " broker(s) (" + f.balance + ") x " + std::to_string(o.workers) +
         " worker(s), " + std::to_string(gpus) + " GPUs (" + PerHost(o) + "), hop " + Fixed(o.hop_ms, 2) + " ms";
}

void PrintTable(const FleetOptions& o, const SimFlags& f, const SimResult& r, std::ostream& out) {
  const FleetModel& top = o.models[0];
  const int top_gpus = top.replicas * Hosts(o, top);
  out << "tbms sim: " << r.requests << " requests at " << Fixed(r.offered_qps, 0) << " QPS"
      << (o.trace.empty() ? " (cv " + Fixed(o.cv, 2) + ")" : " (trace " + f.trace + ")") << ", tloc "
      << Fixed(o.tloc_ms, 1) << " ms, crossRequest " << o.cross_request << ", crossLag " << Fixed(o.cross_lag_ms, 1)
      << " ms, hedge " << HedgeName(o.hedge) << ", warm-up " << o.warmup << "\n"
      << "fleet: " << FleetLine(o, f) << "\n"
      << "top model " << top.name << ": " << Fixed(CapacityQps(top, top_gpus), 0) << " QPS at batch " << top.max_batch
      << ", " << Fixed(CapacityQps(top, top_gpus, o.tloc_ms), 0) << " QPS within tloc; offered load "
      << Fixed(r.offered_qps / std::max(1e-9, CapacityQps(top, top_gpus)), 2) << "x\n\n";
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"answered by tloc %", Fixed(r.answered_pct, 2)},
      {"top model %", Fixed(r.top_pct, 2)},
      {"effective quality", Fixed(r.effective_quality, 3)},
      {"latency p50 / p99 / p99.9 ms", Fixed(r.p50_ms) + " / " + Fixed(r.p99_ms) + " / " + Fixed(r.p999_ms)},
      {"latency mean ms", Fixed(r.mean_ms)},
      {"extra attempts %", Fixed(r.extra_attempts_pct, 2)},
      {"autoscaling signal p90", Fixed(r.budget_use_p90, 3) + " (top_budget_use)"},
      {"no answer", std::to_string(r.requests - r.answered) + " (" + ReasonList(r.no_answer) + ")"},
      {"downgraded because", ReasonList(r.downgraded)},
  };
  for (const auto& [k, v] : rows) out << "  " << k << std::string(30 - k.size(), ' ') << v << "\n";
  out << "\n  model        GPUs  answered %  utilization %  mean batch  quality\n";
  for (size_t i = 0; i < r.models.size(); ++i) {
    const ModelResult& m = r.models[i];
    char line[256];
    std::snprintf(line, sizeof line, "  %-10.10s %6d  %10.2f  %13.1f  %10.2f  %7.2f\n", m.name.c_str(), m.gpus,
                  100.0 * static_cast<double>(m.answered) / static_cast<double>(r.requests), 100 * m.utilization,
                  m.mean_batch, o.models[i].quality);
    out << line;
  }
  if (r.bound) {
    const OfflineBound& b = *r.bound;
    out << "\noffline bound for " << top.name << " on all " << top_gpus
        << " of its GPUs, knowing the whole trace (nominal service times):\n"
        << "  upper bound              " << b.upper_bound << " (" << Fixed(100.0 * b.upper_bound / r.requests, 2)
        << "%; plain capacity bound " << b.capacity_bound << ")\n"
        << "  greedy offline schedule  " << b.greedy << " (" << Fixed(100.0 * b.greedy / r.requests, 2)
        << "%, achievable)\n"
        << "  TBMS top-model answers / upper bound = " << Fixed(r.top_vs_bound, 3) << "\n";
    if (r.routed_bound) {
      const OfflineBound& rb = *r.routed_bound;
      out << "  as routed (each server's share of the trace on its own " << top.replicas << " GPUs): upper bound "
          << rb.upper_bound << " (" << Fixed(100.0 * rb.upper_bound / r.requests, 2) << "%), greedy " << rb.greedy
          << "; TBMS / routed bound = " << Fixed(r.top_vs_routed, 3) << "\n";
    }
    if (r.bound_floor < 1.0) {
      out << "  with jitter a batch can beat nominal: if every batch ran as fast as this run's fastest ("
          << Fixed(r.bound_floor, 3) << " x nominal), the bound is " << r.fastest_bound->upper_bound << " (ratio "
          << Fixed(r.top_vs_fastest, 3) << ")\n";
    }
  }
  out << "\nrun time " << Fixed(r.wall_s, 2) << " s for " << Fixed(r.simulated_s, 1) << " s simulated ("
      << Fixed(r.requests / std::max(r.wall_s, 1e-9) / 1e6, 2) << " M tries/s; trace " << Fixed(r.trace_wall_s, 2)
      << " s, offline bound " << Fixed(r.bound_wall_s, 2) << " s)\n";
}

void WriteBound(JsonWriter& w, const OfflineBound& b) {
  w.BeginObject()
      .Key("upper_bound").Int(static_cast<long long>(b.upper_bound))
      .Key("capacity_bound").Int(static_cast<long long>(b.capacity_bound))
      .Key("greedy").Int(static_cast<long long>(b.greedy))
      .Key("usable_batch").Int(b.usable_batch)
      .EndObject();
}

// What callers got and what the autoscaler sees: the keys a run and a ramp step share.
void WriteOutcome(JsonWriter& w, const SimResult& r) {
  w.Key("offered_qps").Number(r.offered_qps)
      .Key("answered_by_tloc_pct").Number(r.answered_pct)
      .Key("top_model_pct").Number(r.top_pct)
      .Key("effective_quality").Number(r.effective_quality)
      .Key("budget_use_p90").Number(r.budget_use_p90);
}

void PrintJson(const FleetOptions& o, const SimResult& r, std::ostream& out) {
  std::string s;
  JsonWriter w(s);
  w.BeginObject()
      .Key("requests").Int(static_cast<long long>(r.requests))
      .Key("servers").Int(r.servers)
      .Key("workers").Int(r.workers)
      .Key("gpus").Int(r.gpus)
      .Key("tloc_ms").Number(o.tloc_ms)
      .Key("extra_attempts_pct").Number(r.extra_attempts_pct);
  WriteOutcome(w, r);
  w.Key("latency_ms").BeginObject()
      .Key("p50").Number(r.p50_ms).Key("p99").Number(r.p99_ms).Key("p99_9").Number(r.p999_ms).Key("mean").Number(r.mean_ms)
      .EndObject();
  for (auto [key, counts] : {std::pair{"no_answer", &r.no_answer}, std::pair{"downgraded", &r.downgraded}}) {
    w.Key(key).BeginObject();
    for (Reason reason : kReasons) w.Key(ReasonName(reason)).Int(static_cast<long long>((*counts)[static_cast<size_t>(reason)]));
    w.EndObject();
  }
  w.Key("models").BeginArray();
  for (size_t i = 0; i < r.models.size(); ++i) {
    const ModelResult& m = r.models[i];
    w.BeginObject()
        .Key("model").String(m.name)
        .Key("gpus").Int(m.gpus)
        .Key("gpus_per_server").Int(o.models[i].replicas)
        .Key("answered").Int(static_cast<long long>(m.answered))
        .Key("answered_pct").Number(100.0 * static_cast<double>(m.answered) / static_cast<double>(r.requests))
        .Key("utilization_pct").Number(100 * m.utilization)
        .Key("batches").Int(static_cast<long long>(m.batches))
        .Key("mean_batch").Number(m.mean_batch)
        .Key("quality").Number(o.models[i].quality)
        .EndObject();
  }
  w.EndArray();
  if (r.bound) {
    w.Key("offline_bound");
    WriteBound(w, *r.bound);
    w.Key("top_vs_bound").Number(r.top_vs_bound);
    w.Key("fastest_bound");
    WriteBound(w, *r.fastest_bound);
    w.Key("fastest_floor").Number(r.bound_floor).Key("top_vs_fastest").Number(r.top_vs_fastest);
    if (r.routed_bound) {
      w.Key("routed_bound");
      WriteBound(w, *r.routed_bound);
      w.Key("top_vs_routed").Number(r.top_vs_routed);
    }
  }
  w.Key("run_time_s").Number(r.wall_s)
      .Key("simulated_s").Number(r.simulated_s)
      .Key("trace_time_s").Number(r.trace_wall_s)
      .Key("bound_time_s").Number(r.bound_wall_s)
      .EndObject();
  out << s << "\n";
}

// --ramp FROM:TO:STEPS: STEPS loads evenly from FROM to TO.
StatusOr<RampOptions> Ramp(const SimFlags& f) {
  RampOptions r;
  r.target = f.hpa_target;
  auto loads = ParseRampSpec(f.ramp, "--ramp");
  if (!loads.ok()) return loads.status();
  r.loads = std::move(loads).value();
  return r;
}

void PrintRampHeader(const FleetOptions& o, const SimFlags& f, std::ostream& out) {
  out << "tbms sim --ramp " << f.ramp << ": " << o.requests << " requests per step (cv " << Fixed(o.cv, 2)
      << "), tloc " << Fixed(o.tloc_ms, 1) << " ms, crossRequest " << o.cross_request << ", hedge "
      << HedgeName(o.hedge) << "\nfleet: " << FleetLine(o, f) << "\nthe HPA scales the "
      << (o.workers > 0 ? "workers" : "servers") << " toward p90 top_budget_use = " << Fixed(f.hpa_target, 2)
      << "; load is a multiple of " << o.models[0].name << "'s capacity\n\n"
      << "   load     QPS  answered %   top %  quality  p99 ms  signal p90  HPA wants\n";
}

void PrintRampStep(const RampStep& s, std::ostream& out) {
  const SimResult& r = s.result;
  char line[256];
  std::snprintf(line, sizeof line, "  %5.2f  %6.0f  %10.2f  %6.2f  %7.3f  %6.1f  %10.3f  %9d%s\n", s.load,
                r.offered_qps, r.answered_pct, r.top_pct, r.effective_quality, r.p99_ms, r.budget_use_p90,
                s.hpa_wants, s.answers_fell ? "  answers fell" : "");
  out << line << std::flush;
}

void PrintRampVerdict(const RampResult& r, const SimFlags& f, std::ostream& out) {
  auto at = [&](int step) { return step < 0 ? std::string("never") : "at load " + Fixed(r.steps[step].load, 2); };
  out << "\nthe HPA scales up (signal over " << Fixed(f.hpa_target * (1 + kHpaTolerance), 3)
      << ", its target plus the 10% tolerance) " << at(r.signal_step)
      << "; answers fall (answered < 99.9% or quality 1% below the first step's) " << at(r.answers_step) << ": "
      << (r.warns_first() ? "the signal warns first" : "the signal does NOT warn first") << "\n";
  if (r.highest_target > 0) {
    out << "a target of at most " << Fixed(std::floor(r.highest_target * 1000) / 1000, 3)
        << " scales up before the answers fall on this ramp\n";
  } else if (r.answers_step == 0) {
    out << "the answers fall at the first step already: give the top model more GPUs (--replicas), a longer "
           "tloc, or start the ramp lower\n";
  }
}

void PrintRampJson(const RampResult& r, std::ostream& out) {
  std::string s;
  JsonWriter w(s);
  w.BeginObject().Key("steps").BeginArray();
  for (const RampStep& step : r.steps) {
    w.BeginObject().Key("load").Number(step.load);
    WriteOutcome(w, step.result);
    w.Key("p99_ms").Number(step.result.p99_ms)
        .Key("hpa_wants").Int(step.hpa_wants)
        .Key("answers_fell").Bool(step.answers_fell)
        .EndObject();
  }
  w.EndArray()
      .Key("signal_step").Int(r.signal_step)
      .Key("answers_step").Int(r.answers_step)
      .Key("warns_first").Bool(r.warns_first())
      .Key("highest_target").Number(r.highest_target)
      .EndObject();
  out << s << "\n";
}

// A message on stderr; exit 2 for what the flags got wrong, 1 for a failed run.
int Fail(const Status& status) {
  std::cerr << "tbms sim: " << status.message() << "\n";
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

int RunRampSim(const SimFlags& f, const FleetOptions& o) {
  auto ramp = Ramp(f);
  if (!ramp.ok()) return Fail(ramp.status());
  if (!f.json) PrintRampHeader(o, f, std::cout);
  std::function<void(const RampStep&)> each;
  if (!f.json) each = [](const RampStep& s) { PrintRampStep(s, std::cout); };
  auto result = RunRamp(o, *ramp, each);
  if (!result.ok()) return Fail(result.status());
  if (f.json) {
    PrintRampJson(*result, std::cout);
  } else {
    PrintRampVerdict(*result, f, std::cout);
  }
  return 0;
}

// Flags that others make moot are refused with them, so that none is
// silently ignored; INVALID_ARGUMENT says which to leave out.
Status CheckFlagsApply(const CLI::App& cmd, const SimFlags& f) {
  auto given = [&](const char* flag) { return cmd.count(flag) > 0; };
  const bool replicas = given(kReplicasFlag) || given(kDeprecatedReplicasFlag);
  if (given("--gpus-per-server") && (replicas || (f.gpus_given && f.servers_given))) {
    return InvalidArgument(replicas ? "--replicas gives each server's GPUs: leave out --gpus-per-server"
                                    : "--gpus and --servers give each server --gpus / --servers GPUs: leave out "
                                      "--gpus-per-server");
  }
  if (replicas && f.gpus_given && f.servers_given) {
    return InvalidArgument("--replicas and --servers give the fleet's GPUs: leave out --gpus");
  }
  if (f.workers == 0) {
    for (const char* flag : {"--brokers", "--hop-ms"}) {
      if (given(flag)) return InvalidArgument(std::string(flag) + " applies to --workers");
    }
  }
  if (f.ramp.empty() && given("--hpa-target")) return InvalidArgument("--hpa-target applies to --ramp");
  if (!f.ramp.empty()) {
    for (const char* flag : {"--trace", "--rate", "--load"}) {
      if (given(flag)) return InvalidArgument(std::string("--ramp sets the load of each step: leave out ") + flag);
    }
  }
  if (!f.trace.empty()) {
    for (const char* flag : {"--rate", "--load", "--cv", "--requests"}) {
      if (given(flag)) return InvalidArgument(std::string("--trace gives the arrivals: leave out ") + flag);
    }
  }
  return OkStatus();
}

int RunSim(const SimFlags& f) {
  auto options = Options(f);
  if (!options.ok()) {
    std::cerr << "tbms sim: " << options.status().message() << "\n";
    return 2;
  }
  FleetOptions& o = *options;
  if (!f.ramp.empty()) return RunRampSim(f, o);
  const size_t total = o.trace.empty() ? o.requests : o.trace.size();
  const bool tty = isatty(2);
  if (!f.quiet && total >= 100000) {
    o.progress_every = std::max<size_t>(total / 20, 10000);
    o.progress = [tty](size_t done, size_t all, Duration simulated) {
      std::fprintf(stderr, "%stbms sim: %zu/%zu tries, %.1f s simulated%s", tty ? "\r" : "", done, all,
                   ToMillis(simulated) / 1000.0, tty && done < all ? "" : "\n");
    };
  }
  auto result = RunFleet(o);
  if (!result.ok()) return Fail(result.status());
  if (f.json) {
    PrintJson(o, *result, std::cout);
  } else {
    PrintTable(o, f, *result, std::cout);
  }
  return 0;
}

}  // namespace

void AddSim(CLI::App& app) {
  auto flags = std::make_shared<SimFlags>();
  CLI::App* cmd = app.add_subcommand(
      "sim", "Plan a fleet: replay a trace through the broker, batchers and predictor on a virtual "
             "clock over simulated GPUs (1M requests over 1000 GPUs in seconds)");
  cmd->add_option("--models", flags->models,
                  "Models in rank order, best first: NAME=MS[:PER_ITEM_MS],... (MS: single-item time, "
                  "also the caller's estimate; PER_ITEM_MS: per extra batch item, default MS/10)")
      ->capture_default_str();
  cmd->add_option("--quality", flags->quality,
                  "Quality score per model for effective quality: NAME=SCORE,... (default by rank: 1, 0.8, 0.6, ...)");
  cmd->add_option("--gpus", flags->gpus, "GPUs in the fleet (whole servers are used)")
      ->check(CLI::Range(1, 10000000))->capture_default_str();
  cmd->add_option("--gpus-per-server", flags->gpus_per_server,
                  "GPUs per TBMS server, split over the models in proportion to their single-item time")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--servers", flags->servers, "TBMS servers (0: --gpus / --gpus-per-server; with --gpus, each server has --gpus / --servers GPUs: 1 pools them)")
      ->check(CLI::Range(0, 1000000))->capture_default_str();
  cmd->add_option("--workers", flags->workers,
                  "The Kubernetes topology: --brokers in front of this many TBMS workers, which run every model "
                  "not --local (0: every server runs every model)")
      ->check(CLI::Range(0, 100000))->capture_default_str();
  cmd->add_option("--brokers", flags->brokers, "With --workers: brokers behind the load balancer")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--local", flags->local, "With --workers: models the brokers run themselves, NAME,... "
                                           "(the manifests keep keysearch there)");
  cmd->add_option("--hop-ms", flags->hop_ms, "With --workers: the broker -> worker -> broker round trip, ms")
      ->check(CLI::Range(0.0, 60000.0))->capture_default_str();
  cmd->add_option("--ramp", flags->ramp,
                  "A load ramp FROM:TO:STEPS (multiples of the top model's capacity), --requests per step: "
                  "prints the autoscaling signal next to the answers at each step");
  cmd->add_option("--hpa-target", flags->hpa_target,
                  "The HPA's target for the signal (p90 top_budget_use), as in deploy/k8s/base/autoscaling.yaml")
      ->check(CLI::Range(0.01, 10.0))->capture_default_str();
  AddReplicasFlag(cmd, flags->replicas, "Replicas (GPUs) per server per model, in model order (e.g. 5,1,1,1)");
  cmd->add_option("--balance", flags->balance,
                  "Load balancer: round-robin, or least-loaded (fewer tries in flight of two random servers)")
      ->capture_default_str();
  cmd->add_option("--rate", flags->rate, "Offered load, requests per second (0: --load)")
      ->check(CLI::Range(0.0, 1e6))->capture_default_str();
  cmd->add_option("--load", flags->load,
                  "Offered load as a multiple of the top model's capacity (GPUs x max batch / batch time)")
      ->check(CLI::Range(0.0, 1000.0))->capture_default_str();
  cmd->add_option("--cv", flags->cv, "Arrival gaps' coefficient of variation: 1 Poisson, > 1 bursty (MMPP-2), 0 regular")
      ->capture_default_str();
  cmd->add_option("--requests", flags->requests, "Requests in the trace")
      ->check(CLI::Range(size_t{1}, size_t{1'000'000'000}))->capture_default_str();
  cmd->add_option("--trace", flags->trace, "Replay a recorded trace: a file of arrival times in ms, one per line, "
                                           "ascending (replaces --rate, --load, --cv, --requests)");
  cmd->add_option("--tloc", flags->tloc, "Time budget of every try, ms")->check(CLI::Range(0.001, 3600000.0))->capture_default_str();
  cmd->add_option("--cross-request", flags->cross_request, "Extra attempts in flight at once (hedges)")
      ->check(CLI::Range(0, 1000))->capture_default_str();
  cmd->add_option("--cross-lag", flags->cross_lag, "Least time between launches, ms")
      ->check(CLI::Range(0.0, 3600000.0))->capture_default_str();
  cmd->add_option("--hedge", flags->hedge, "When a fallback launches: at_risk (once no attempt in flight is likely "
                                           "to answer by tloc) or expected (the talk's est timer)")
      ->check(CLI::IsMember({"at_risk", "expected"}))->capture_default_str();
  cmd->add_flag("--no-bound", flags->no_bound, "Skip the offline bound");
  cmd->add_flag("--json", flags->json, "Print the figures as JSON");
  cmd->add_flag("--quiet", flags->quiet, "No progress line on stderr");
  AddModelFlags(cmd, flags->model);
  cmd->callback([flags, cmd] {
    flags->gpus_given = cmd->count("--gpus") > 0;
    flags->servers_given = cmd->count("--servers") > 0 && flags->servers > 0;
    if (Status s = CheckFlagsApply(*cmd, *flags); !s.ok()) {
      std::cerr << "tbms sim: " << s.message() << "\n";
      return SetExitCode(2);
    }
    SetExitCode(RunSim(*flags));
  });
}

}  // namespace tbms::tools
