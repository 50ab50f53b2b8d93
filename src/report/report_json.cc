#include <algorithm>
#include <ctime>
#include <map>

#include "tbms/common/json_writer.h"
#include "tbms/report/exposition.h"

namespace tbms {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr int kOccupancySeconds = 60;

double SteadySeconds(TimePoint t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

// Maps engine-clock seconds to Unix seconds through the context's paired instants.
double UnixSeconds(const ReportContext& ctx, double steady_s) {
  const double wall_now = std::chrono::duration<double>(ctx.wall.time_since_epoch()).count();
  return wall_now - (SteadySeconds(ctx.now) - steady_s);
}

std::string Iso(double unix_s) {
  const auto t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

double Pct(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// A histogram's non-empty buckets as [[le, count], ...] (not cumulative; le
// in `scale` units, null for +Inf): enough for a client to merge several
// servers' (bounds are fixed: equal le, same bucket) and take quantiles.
void WriteBuckets(const Histogram::Snapshot& s, double scale, JsonWriter& w) {
  w.Key("buckets").BeginArray();
  uint64_t below = 0;
  for (size_t i = 0; i < s.cumulative.size(); ++i) {
    const uint64_t n = s.cumulative[i] - below;
    below = s.cumulative[i];
    if (n == 0) continue;
    w.BeginArray();
    if (i < s.bounds.size()) w.Number(scale * s.bounds[i]); else w.Null();
    w.Int(static_cast<long long>(n)).EndArray();
  }
  w.EndArray();
}

void WriteSeries(const StatsRegistry& stats, const ReportContext& ctx, JsonWriter& w) {
  auto points = stats.all_tries().Read(ctx.now);
  // Seconds before the server started are not zeros: they are not there.
  const double start_s = SteadySeconds(ctx.now) - ctx.uptime_s;
  std::erase_if(points, [&](const SecondRing::Point& p) { return static_cast<double>(p.second) + 1 < start_s; });
  w.Key("qps").BeginObject();
  w.Key("last_1s").Number(points.empty() ? 0 : points.back().count);
  double last60 = 0;
  const size_t from = points.size() > kOccupancySeconds ? points.size() - kOccupancySeconds : 0;
  for (size_t i = from; i < points.size(); ++i) last60 += points[i].count;
  const double span = std::min<double>(kOccupancySeconds, std::max(ctx.uptime_s, 1.0));
  w.Key("last_60s").Number(last60 / span);
  w.EndObject();
  w.Key("series").BeginObject();
  w.Key("t").BeginArray();
  for (const auto& p : points) w.Int(static_cast<long long>(UnixSeconds(ctx, static_cast<double>(p.second))));
  w.EndArray().Key("qps").BeginArray();
  for (const auto& p : points) w.Number(p.count);
  w.EndArray().Key("lag_avg_ms").BeginArray();
  for (const auto& p : points) {
    if (p.count > 0) w.Number(1000 * p.sum / p.count); else w.Null();  // no tries: no lag
  }
  w.EndArray().EndObject();
}

void WriteDowngrade(const TaskStats& t, JsonWriter& w) {
  const uint64_t tries = t.tries.load(kRelaxed);
  w.BeginObject().Key("instance").String(t.instance).Key("task").String(t.task);
  w.Key("tries").Int(static_cast<long long>(tries));
  w.Key("answered").BeginArray();
  auto answered = [&](const std::string& model, int rank, uint64_t n) {
    w.BeginObject().Key("model").String(model).Key("rank").Int(rank);
    w.Key("count").Int(static_cast<long long>(n)).Key("pct").Number(Pct(n, tries)).EndObject();
  };
  for (size_t r = 0; r < t.models.size(); ++r) answered(t.models[r], static_cast<int>(r), t.answered[r].load(kRelaxed));
  for (size_t i = 0; i < t.later_answer_count(); ++i) {
    const TaskStats::LaterAnswer& a = t.later_answer(i);
    answered(a.model, a.rank, a.count.load(kRelaxed));
  }
  w.EndArray();
  uint64_t none = 0;
  for (const auto& c : t.no_answer) none += c.load(kRelaxed);
  w.Key("no_answer").BeginObject().Key("count").Int(static_cast<long long>(none));
  w.Key("pct").Number(Pct(none, tries)).EndObject();
  w.Key("reasons").BeginObject();
  for (Reason r : kReasons) {
    const auto i = static_cast<size_t>(r);
    w.Key(ReasonName(r))
        .Int(static_cast<long long>(t.downgrades[i].load(kRelaxed) + t.no_answer[i].load(kRelaxed)));
  }
  w.EndObject();
  w.Key("extra_attempts").Int(static_cast<long long>(t.extra_attempts.load(kRelaxed)));
  const Histogram::Snapshot use = t.top_budget_use.Read();
  w.Key("top_budget_use").BeginObject().Key("count").Int(static_cast<long long>(use.count()));
  w.Key("p50").Number(use.Quantile(0.5)).Key("p90").Number(use.Quantile(0.9));
  WriteBuckets(use, 1, w);
  w.EndObject().EndObject();
}

void WriteLag(const TaskStats& t, const ReportContext& ctx, JsonWriter& w) {
  const int64_t current =
      std::chrono::duration_cast<Duration>(ctx.wall.time_since_epoch()) / TaskStats::kWindow;
  std::vector<const TaskStats::Window*> windows;
  for (const auto& win : t.windows) {
    const int64_t id = win.id.load(kRelaxed);
    if (id >= 0 && id > current - TaskStats::kWindows) windows.push_back(&win);
  }
  std::sort(windows.begin(), windows.end(),
            [](auto* a, auto* b) { return a->id.load(kRelaxed) > b->id.load(kRelaxed); });
  w.BeginObject().Key("instance").String(t.instance).Key("task").String(t.task);
  w.Key("windows").BeginArray();
  for (const TaskStats::Window* win : windows) {
    const Histogram::Snapshot s = win->lag.Read();
    const double start = static_cast<double>(win->id.load(kRelaxed)) *
                         std::chrono::duration<double>(TaskStats::kWindow).count();
    w.BeginObject().Key("start").String(Iso(start));  // window ids are in Unix time
    w.Key("count").Int(static_cast<long long>(s.count()));
    w.Key("avg_ms").Number(1000 * s.Mean());
    w.Key("p50_ms").Number(1000 * s.Quantile(0.5));
    w.Key("p99_ms").Number(1000 * s.Quantile(0.99));
    WriteBuckets(s, 1000, w);
    w.EndObject();
  }
  w.EndArray().EndObject();
}

// The occupancy table: per (device, model), summed over the model's
// versions, busy time over the last minute as a share of the model's own
// replicas there (`pct`) and of the device (`device_pct`); then each
// device's total and what is free (the talk's "GPU3 10% free").
struct Occupancy {
  struct Cell {
    std::string device, model;
    int replicas = 0;
    double busy = 0, share = 0;
  };
  std::vector<Cell> cells;  // first seen first
  Cell& At(const std::string& device, const std::string& model) {
    for (Cell& c : cells) {
      if (c.device == device && c.model == model) return c;
    }
    return cells.emplace_back(Cell{device, model});
  }
};

double DeviceCapacity(const DeviceStats* d, const Occupancy& o, const std::string& device) {
  const double declared = d ? d->capacity.load(kRelaxed) : 0;
  if (declared > 0) return declared;
  int replicas = 0;  // an undeclared device holds the replicas placed on it
  for (const Occupancy::Cell& c : o.cells) replicas += c.device == device ? c.replicas : 0;
  return std::max(1, replicas);
}

void WriteOccupancy(const StatsRegistry& stats, const ReportContext& ctx, const ReportScope* scope, JsonWriter& w) {
  const double span = std::min<double>(kOccupancySeconds, std::max(ctx.uptime_s, 1.0));
  Occupancy o;
  for (const PlacementStats* p : stats.placements()) {
    if (scope != nullptr && !scope->Shows(p->model)) continue;
    Occupancy::Cell& c = o.At(p->device, p->model);
    c.replicas += p->replicas.load(kRelaxed);
    c.share = std::max(c.share, p->share.load(kRelaxed));
    for (const auto& point : p->busy.Read(ctx.now, kOccupancySeconds)) c.busy += point.sum;
  }
  std::map<std::string, const DeviceStats*> devices;
  for (const DeviceStats* d : stats.devices()) {
    if (d->in_house.load(kRelaxed)) devices[d->name] = d;
  }
  auto device_of = [&](const std::string& name) {
    auto it = devices.find(name);
    return it == devices.end() ? nullptr : it->second;
  };
  std::map<std::string, double> device_busy;
  w.Key("occupancy").BeginArray();
  for (const Occupancy::Cell& c : o.cells) {
    const double capacity = DeviceCapacity(device_of(c.device), o, c.device);
    const double device_pct = std::min(100.0, 100 * c.busy / (span * capacity));
    device_busy[c.device] += device_pct;
    w.BeginObject().Key("device").String(c.device).Key("model").String(c.model);
    w.Key("replicas").Int(c.replicas);
    w.Key("pct").Number(std::min(100.0, 100 * c.busy / (span * std::max(1, c.replicas))));
    w.Key("device_pct").Number(device_pct);
    w.Key("share_pct").Number(100 * c.share).EndObject();
  }
  w.EndArray();
  if (scope != nullptr && scope->models != nullptr && !scope->models->empty()) return;  // others' use is not its business
  w.Key("devices").BeginArray();
  for (const auto& [name, d] : devices) {
    const double used = std::min(100.0, device_busy[name]);
    w.BeginObject().Key("device").String(name).Key("kind").String(d->kind);
    w.Key("capacity").Number(DeviceCapacity(d, o, name));
    w.Key("up").Bool(d->up.load(kRelaxed));
    w.Key("occupancy_pct").Number(used).Key("free_pct").Number(100 - used);
    w.Key("memory_mib").Int(d->memory_mib.load(kRelaxed)).Key("reserved_mib").Int(d->reserved_mib.load(kRelaxed));
    if (const double utilization = d->gpu_utilization.load(kRelaxed); utilization >= 0) {  // the driver's reading
      w.Key("gpu").BeginObject().Key("utilization_pct").Number(100 * utilization);
      w.Key("memory_used_bytes").Int(d->gpu_memory_used.load(kRelaxed));
      w.Key("memory_total_bytes").Int(d->gpu_memory_total.load(kRelaxed)).EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
}

void WriteModels(std::vector<const ModelStats*> models, const ReportScope* scope, JsonWriter& w) {
  if (scope != nullptr) std::erase_if(models, [&](const ModelStats* m) { return !scope->Shows(m->model); });
  w.Key("models").BeginArray();
  for (const ModelStats* m : models) {
    const auto wait = m->queue_wait.Read();
    const auto service = m->service_fine.Read();
    w.BeginObject().Key("model").String(m->model).Key("version").String(m->version);
    w.Key("batches").Int(static_cast<long long>(m->batches.load(kRelaxed)));
    w.Key("items").Int(static_cast<long long>(m->items.load(kRelaxed)));
    w.Key("late_drops").Int(static_cast<long long>(m->late_drops.load(kRelaxed)));
    w.Key("errors").Int(static_cast<long long>(m->errors.load(kRelaxed)));
    w.Key("skipped").Int(static_cast<long long>(m->skipped.load(kRelaxed)));
    w.Key("queue_wait_p50_ms").Number(1000 * wait.Quantile(0.5));
    w.Key("service_p50_ms").Number(1000 * service.Quantile(0.5));
    w.Key("service_p99_ms").Number(1000 * service.Quantile(0.99));
    w.Key("batch_size_avg").Number(m->batch_size.Read().Mean());
    w.Key("max_batch_size").Int(m->max_batch_size.load(kRelaxed));
    w.Key("max_queue_delay_ms").Number(1000 * m->max_queue_delay_seconds.load(kRelaxed));
    w.Key("batch_curve").BeginArray();  // [batch size, T_b ms] for the sizes that ran
    for (int b = 1; b <= ModelStats::kCurveSizes; ++b) {
      const double ms = m->batch_ms[static_cast<size_t>(b - 1)].load(kRelaxed);
      if (ms > 0) w.BeginArray().Int(b).Number(ms).EndArray();
    }
    w.EndArray().EndObject();
  }
  w.EndArray();
}

}  // namespace

bool ReportScope::Shows(std::string_view model) const {
  return models == nullptr || models->empty() || std::find(models->begin(), models->end(), model) != models->end();
}

void WriteReportJson(const StatsRegistry& stats, const ReportContext& ctx, std::string& out,
                     const ReportScope* scope) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("now").String(Iso(std::chrono::duration<double>(ctx.wall.time_since_epoch()).count()));
  w.Key("uptime_s").Number(ctx.uptime_s);
  auto tasks = stats.tasks();
  if (scope == nullptr) {
    w.Key("pending_tries").Int(static_cast<long long>(ctx.pending_tries));
    w.Key("core_lag_ms").Number(ToMillis(ctx.core_lag));
    WriteSeries(stats, ctx, w);
  } else {
    w.Key("instance").String(scope->instance);
    std::erase_if(tasks, [&](const TaskStats* t) { return t->instance != scope->instance; });
  }
  w.Key("downgrade").BeginArray();
  for (const TaskStats* t : tasks) WriteDowngrade(*t, w);
  w.EndArray();
  w.Key("lag").BeginArray();
  for (const TaskStats* t : tasks) WriteLag(*t, ctx, w);
  w.EndArray();
  WriteOccupancy(stats, ctx, scope, w);
  WriteModels(stats.models(), scope, w);
  w.EndObject();
}

}  // namespace tbms
