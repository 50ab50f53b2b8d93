#include <charconv>
#include <cmath>
#include <map>

#include "tbms/report/exposition.h"

namespace tbms {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;

// The shortest text that reads back as `v` (0.025, not 0.025000000000000001),
// so le="0.025" selects the bucket it names.
std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (v == std::floor(v) && std::fabs(v) < 9007199254740992.0) {  // an integer, exactly: 1073741824, not 1.07e+09
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    return std::string(buf, end);
  }
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
  return std::string(buf, end);
}

// A label set, {k="v",...}, with values escaped as the format requires.
class Labels {
 public:
  Labels& Add(std::string_view key, std::string_view value) {
    text_ += text_.empty() ? "{" : ",";
    text_.append(key);
    text_ += "=\"";
    for (char c : value) {
      if (c == '\\') text_ += "\\\\";
      else if (c == '"') text_ += "\\\"";
      else if (c == '\n') text_ += "\\n";
      else text_ += c;
    }
    text_ += '"';
    return *this;
  }
  std::string Close() const { return text_.empty() ? "" : text_ + "}"; }
  std::string With(std::string_view key, std::string_view value) const {
    Labels copy = *this;
    return copy.Add(key, value).Close();
  }

 private:
  std::string text_;
};

void Header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}

void Sample(std::string& out, std::string_view name, const std::string& labels, double value) {
  out += name;
  out += labels;
  out += ' ';
  out += Number(value);
  out += '\n';
}

void HistogramSamples(std::string& out, std::string_view name, const Labels& labels,
                      const Histogram& h) {
  const Histogram::Snapshot s = h.Read();
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < s.bounds.size(); ++i) {
    Sample(out, bucket, labels.With("le", Number(s.bounds[i])), static_cast<double>(s.cumulative[i]));
  }
  Sample(out, bucket, labels.With("le", "+Inf"), static_cast<double>(s.count()));
  Sample(out, std::string(name) + "_sum", labels.Close(), s.sum);
  Sample(out, std::string(name) + "_count", labels.Close(), static_cast<double>(s.count()));
}

Labels TaskLabels(const TaskStats& t) {
  Labels l;
  l.Add("instance", t.instance).Add("task", t.task);
  return l;
}

Labels ModelLabels(const ModelStats& m) {
  Labels l;
  l.Add("model", m.model).Add("version", m.version);
  return l;
}

void WriteTasks(const std::vector<const TaskStats*>& tasks, std::string& out) {
  Header(out, "tbms_tries_total", "counter", "Tries answered, with or without an answer.");
  for (const TaskStats* t : tasks) Sample(out, "tbms_tries_total", TaskLabels(*t).Close(), t->tries.load(kRelaxed));

  Header(out, "tbms_answers_total", "counter", "Tries answered, by the model and rank that answered.");
  for (const TaskStats* t : tasks) {
    for (size_t r = 0; r < t->models.size(); ++r) {
      Labels l = TaskLabels(*t);
      l.Add("model", t->models[r]);
      Sample(out, "tbms_answers_total", l.With("rank", std::to_string(r)), t->answered[r].load(kRelaxed));
    }
    for (size_t i = 0; i < t->later_answer_count(); ++i) {
      const TaskStats::LaterAnswer& a = t->later_answer(i);
      Labels l = TaskLabels(*t);
      l.Add("model", a.model);
      Sample(out, "tbms_answers_total", l.With("rank", std::to_string(a.rank)), a.count.load(kRelaxed));
    }
  }
  Header(out, "tbms_downgrades_total", "counter",
         "Tries answered below rank 0, by why rank 0 did not answer.");
  for (const TaskStats* t : tasks) {
    for (Reason r : kReasons) {
      Sample(out, "tbms_downgrades_total", TaskLabels(*t).With("reason", ReasonName(r)),
             t->downgrades[static_cast<size_t>(r)].load(kRelaxed));
    }
  }
  Header(out, "tbms_no_answer_total", "counter", "Tries with no answer in time, by reason.");
  for (const TaskStats* t : tasks) {
    for (Reason r : kReasons) {
      Sample(out, "tbms_no_answer_total", TaskLabels(*t).With("reason", ReasonName(r)),
             t->no_answer[static_cast<size_t>(r)].load(kRelaxed));
    }
  }
  Header(out, "tbms_extra_attempts_total", "counter",
         "Attempts launched beyond the first of each try: the cost of hedging and fallbacks.");
  for (const TaskStats* t : tasks) {
    Sample(out, "tbms_extra_attempts_total", TaskLabels(*t).Close(), t->extra_attempts.load(kRelaxed));
  }
  Header(out, "tbms_try_duration_seconds", "histogram", "End-to-end lag of a try, receipt to answer.");
  for (const TaskStats* t : tasks) HistogramSamples(out, "tbms_try_duration_seconds", TaskLabels(*t), t->lag);
  Header(out, "tbms_top_budget_use_ratio", "histogram",
         "The top candidate's predicted time (high quantile, queue included) over tloc, as each try began: "
         "rises with load before answers are downgraded (the autoscaling signal).");
  for (const TaskStats* t : tasks) {
    HistogramSamples(out, "tbms_top_budget_use_ratio", TaskLabels(*t), t->top_budget_use);
  }
}

void WriteModels(const std::vector<const ModelStats*>& models, std::string& out) {
  struct Counter {
    const char* name;
    const char* help;
    const std::atomic<uint64_t> ModelStats::*field;
  };
  const Counter counters[] = {
      {"tbms_batches_total", "Batches executed.", &ModelStats::batches},
      {"tbms_batch_items_total", "Items executed in batches.", &ModelStats::items},
      {"tbms_late_drops_total", "Items dropped by the batcher: they could no longer finish in time.",
       &ModelStats::late_drops},
      {"tbms_backend_errors_total", "Items the backend failed.", &ModelStats::errors},
      {"tbms_skipped_items_total", "Batch items not computed: their try was over (answered, or past its deadline).",
       &ModelStats::skipped},
  };
  for (const Counter& c : counters) {
    Header(out, c.name, "counter", c.help);
    for (const ModelStats* m : models) Sample(out, c.name, ModelLabels(*m).Close(), (m->*c.field).load(kRelaxed));
  }
  Header(out, "tbms_queue_wait_seconds", "histogram", "Time an item waited in its model's queue.");
  for (const ModelStats* m : models) HistogramSamples(out, "tbms_queue_wait_seconds", ModelLabels(*m), m->queue_wait);
  Header(out, "tbms_batch_size", "histogram", "Items per executed batch.");
  for (const ModelStats* m : models) HistogramSamples(out, "tbms_batch_size", ModelLabels(*m), m->batch_size);
  Header(out, "tbms_service_time_seconds", "histogram", "Execution time of a batch.");
  for (const ModelStats* m : models) {
    HistogramSamples(out, "tbms_service_time_seconds", ModelLabels(*m), m->service_time);
  }
  Header(out, "tbms_model_max_batch_size", "gauge",
         "Largest batch a model version forms now (the online tuner moves it with [batching] adaptive).");
  for (const ModelStats* m : models) {
    Sample(out, "tbms_model_max_batch_size", ModelLabels(*m).Close(), m->max_batch_size.load(kRelaxed));
  }
  Header(out, "tbms_model_max_queue_delay_seconds", "gauge",
         "Longest an item waits for its batch to fill now (the online tuner moves it with [batching] adaptive).");
  for (const ModelStats* m : models) {
    Sample(out, "tbms_model_max_queue_delay_seconds", ModelLabels(*m).Close(),
           m->max_queue_delay_seconds.load(kRelaxed));
  }
}

// Per (device, model), summed over the model's versions: the occupancy
// table's cells. Then the devices themselves.
void WriteDevices(const StatsRegistry& stats, std::string& out) {
  struct Cell {
    double busy = 0, share = 0;
    int replicas = 0;
  };
  std::map<std::pair<std::string, std::string>, Cell> cells;
  for (const PlacementStats* p : stats.placements()) {
    Cell& c = cells[{p->device, p->model}];
    c.busy += p->busy_seconds.load(kRelaxed);
    c.replicas += p->replicas.load(kRelaxed);
    c.share = std::max(c.share, p->share.load(kRelaxed));
  }
  auto cell_labels = [](const std::pair<std::string, std::string>& key) {
    Labels l;
    l.Add("device", key.first);
    return l.With("model", key.second);
  };
  Header(out, "tbms_device_busy_seconds_total", "counter",
         "Time replicas of a model were busy on a device; occupancy is its rate over the device's capacity.");
  for (const auto& [key, c] : cells) Sample(out, "tbms_device_busy_seconds_total", cell_labels(key), c.busy);
  Header(out, "tbms_model_replicas", "gauge", "Replicas of a model serving on a device (copies that run batches at once).");
  for (const auto& [key, c] : cells) Sample(out, "tbms_model_replicas", cell_labels(key), c.replicas);
  Header(out, "tbms_device_share_ratio", "gauge",
         "The share of a device's time a model's replicas may take (its instance group's share_pct / 100; 0: no limit).");
  for (const auto& [key, c] : cells) Sample(out, "tbms_device_share_ratio", cell_labels(key), c.share);

  const std::vector<const DeviceStats*> devices = stats.devices();
  auto device_labels = [](const DeviceStats& d) {
    Labels l;
    l.Add("device", d.name);
    return l;
  };
  Header(out, "tbms_device_capacity", "gauge",
         "Replica-seconds of work per second a device holds: its cores, 1 for a GPU; 0: the replicas placed on it.");
  for (const DeviceStats* d : devices) {
    if (d->in_house.load(kRelaxed)) {
      Sample(out, "tbms_device_capacity", device_labels(*d).With("kind", d->kind), d->capacity.load(kRelaxed));
    }
  }
  // A gauge for each device in the house that `shows` it.
  auto per_device = [&](std::string_view name, std::string_view help, auto shows, auto value) {
    Header(out, name, "gauge", help);
    for (const DeviceStats* d : devices) {
      if (d->in_house.load(kRelaxed) && shows(*d)) Sample(out, name, device_labels(*d).Close(), value(*d));
    }
  };
  per_device("tbms_device_up", "1 while a device serves; 0 once drained (by an admin, or failed).",
             [](const DeviceStats&) { return true; }, [](const DeviceStats& d) { return d.up.load(kRelaxed); });
  auto declares_memory = [](const DeviceStats& d) { return d.memory_mib.load(kRelaxed) != 0; };
  auto bytes_of_mib = [](auto field) {
    return [field](const DeviceStats& d) { return 1024.0 * 1024.0 * static_cast<double>((d.*field).load(kRelaxed)); };
  };
  per_device("tbms_device_memory_bytes", "Memory a device declares (devices.toml memory_mib).", declares_memory,
             bytes_of_mib(&DeviceStats::memory_mib));
  per_device("tbms_device_memory_reserved_bytes",
             "Memory the instance groups placed on a device reserve (count x memory_mib).", declares_memory,
             bytes_of_mib(&DeviceStats::reserved_mib));
  // What the driver says (NVML), for the GPUs it could read.
  auto read_by_driver = [](const DeviceStats& d) { return d.gpu_utilization.load(kRelaxed) >= 0; };
  per_device("tbms_device_gpu_utilization_ratio",
             "Share of the GPU's time a kernel ran, over the driver's last sample period (NVML).", read_by_driver,
             [](const DeviceStats& d) { return d.gpu_utilization.load(kRelaxed); });
  per_device("tbms_device_gpu_memory_used_bytes", "GPU memory in use by every process, as the driver reports it (NVML).",
             read_by_driver, [](const DeviceStats& d) { return static_cast<double>(d.gpu_memory_used.load(kRelaxed)); });
  per_device("tbms_device_gpu_memory_total_bytes", "The GPU's memory, as the driver reports it (NVML).",
             read_by_driver, [](const DeviceStats& d) { return static_cast<double>(d.gpu_memory_total.load(kRelaxed)); });
}

}  // namespace

void WritePrometheus(const StatsRegistry& stats, const ReportContext& ctx, std::string& out) {
  WriteTasks(stats.tasks(), out);
  WriteModels(stats.models(), out);
  WriteDevices(stats, out);
  Header(out, "tbms_pending_tries", "gauge", "Tries in flight now.");
  Sample(out, "tbms_pending_tries", "", static_cast<double>(ctx.pending_tries));
  Header(out, "tbms_core_lag_seconds", "gauge",
         "How late the core has run its timers lately; tries plan to answer this much before tloc.");
  Sample(out, "tbms_core_lag_seconds", "", std::chrono::duration<double>(ctx.core_lag).count());
  Header(out, "tbms_uptime_seconds", "gauge", "Seconds since the server started.");
  Sample(out, "tbms_uptime_seconds", "", ctx.uptime_s);
}

}  // namespace tbms
