// tbms report: the report channel's tables in the terminal — Down Grade %
// per task, Lag time (10 min windows) and Model resource occupancy % — read
// from a server's /v1/report, once or every --interval-s with --watch; with
// several --url, the fleet's reports merged into one set of tables.
#include <algorithm>
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <numeric>
#include <span>
#include <sstream>
#include <thread>
#include <vector>

#include "client_flags.h"
#include "commands.h"
#include "format.h"
#include "tbms/client/client.h"
#include "tbms/report/histogram.h"

namespace tbms::tools {
namespace {

using simdjson::dom::element;

struct ReportFlags {
  std::vector<std::string> urls{"http://127.0.0.1:8000"};
  bool watch = false;
  double interval_s = 2;
  int count = 0;  // with --watch: stop after this many refreshes (0: until interrupted)
  CredentialFlags credentials;
};

// A text table: first column left-aligned, the others right-aligned.
class Table {
 public:
  explicit Table(std::vector<std::string> header) { rows_.push_back(std::move(header)); }
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void Print(std::ostream& out) const {
    std::vector<size_t> width;
    for (const auto& row : rows_) {
      if (width.size() < row.size()) width.resize(row.size(), 0);
      for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
    }
    for (const auto& row : rows_) {
      for (size_t i = 0; i < width.size(); ++i) {
        const std::string cell = i < row.size() ? row[i] : "";
        const std::string pad(width[i] - cell.size(), ' ');
        out << (i ? "  " : "") << (i ? pad + cell : cell + pad);
      }
      out << "\n";
    }
  }

 private:
  std::vector<std::vector<std::string>> rows_;
};

// The elements of an array field; none if it is absent or not an array.
// (Binding get_array() directly in a range-for would dangle: it refers into
// a temporary.)
std::vector<element> Array(element e, const char* key) {
  std::vector<element> out;
  simdjson::dom::array arr;
  if (e[key].get_array().get(arr) == simdjson::SUCCESS) {
    for (element x : arr) out.push_back(x);
  }
  return out;
}

// A histogram sent as [[le, count], ...] (report_json.cc's WriteBuckets),
// summed over servers; its bounds are the server's (fixed: equal le, same bucket).
class Buckets {
 public:
  explicit Buckets(std::span<const double> bounds, double scale) {
    for (double b : bounds) bounds_.push_back(scale * b);
    counts_.assign(bounds_.size() + 1, 0);
  }
  void Add(element histogram) {
    for (element bucket : Array(histogram, "buckets")) {
      simdjson::dom::array pair;
      uint64_t n = 0;
      if (bucket.get_array().get(pair) != simdjson::SUCCESS || pair.size() != 2 ||
          pair.at(1).get_uint64().get(n) != simdjson::SUCCESS) {
        continue;
      }
      double le = 0;
      size_t i = bounds_.size();  // null: +Inf
      if (pair.at(0).get_double().get(le) == simdjson::SUCCESS) {
        // The nearest bound at or above le, less the JSON's rounding (bounds are >= 3% apart).
        i = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), le * (1 - 1e-3)) - bounds_.begin());
      }
      counts_[i] += n;
    }
  }
  double Quantile(double q) const {
    Histogram::Snapshot s{.bounds = bounds_, .cumulative = counts_};
    for (size_t i = 1; i < s.cumulative.size(); ++i) s.cumulative[i] += s.cumulative[i - 1];
    return s.Quantile(q);
  }
  uint64_t count() const { return std::accumulate(counts_.begin(), counts_.end(), uint64_t{0}); }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;
};

// One report, or several servers' merged: counts add up, quantiles come from
// the summed histograms, and each server's devices stay its own rows.
struct Report {
  struct Task {
    std::string name;  // "task @instance"
    uint64_t tries = 0, none = 0;
    std::vector<std::pair<std::string, uint64_t>> answered;  // rank order
    Buckets budget{Histogram::RatioBounds(), 1};
  };
  struct Window {
    std::string task, start;
    uint64_t count = 0;
    double sum_ms = 0;
    Buckets lag{Histogram::FineLatencyBounds(), 1000};
  };
  struct Occupancy {
    std::string device, model;
    double pct;  // of the device
  };
  struct Device {
    std::string device;
    double free_pct;
    bool up;
    double gpu_pct = -1;  // the driver's utilisation; < 0: no reading
    double gpu_used_gib = 0, gpu_total_gib = 0;
  };
  std::string now, instance;
  double uptime_s = 0, qps_1s = 0, qps_60s = 0, core_lag_ms = 0;
  int64_t pending = 0;
  std::vector<Task> tasks;
  std::vector<Window> windows;
  std::vector<Occupancy> occupancy;
  std::vector<Device> devices;

  // The row that `same` picks, or a new one that `fill` sets up.
  template <class Row, class Same, class Fill>
  static Row& Find(std::vector<Row>& rows, const Same& same, const Fill& fill) {
    auto it = std::find_if(rows.begin(), rows.end(), same);
    if (it != rows.end()) return *it;
    fill(rows.emplace_back());
    return rows.back();
  }

  // `server` prefixes the device names when the report is one of several.
  void Add(element r, const std::string& server) {
    std::string_view sv;
    if (now.empty() && r["now"].get_string().get(sv) == simdjson::SUCCESS) now = sv;
    if (r["instance"].get_string().get(sv) == simdjson::SUCCESS) instance = sv;
    uptime_s = std::max(uptime_s, Double(r["uptime_s"]));
    qps_1s += Double(r["qps"]["last_1s"]);
    qps_60s += Double(r["qps"]["last_60s"]);
    core_lag_ms = std::max(core_lag_ms, Double(r["core_lag_ms"]));
    pending += Int(r["pending_tries"]);
    for (element t : Array(r, "downgrade")) {
      const std::string name = TaskName(t);
      Task& task = Find(tasks, [&](const Task& x) { return x.name == name; }, [&](Task& x) { x.name = name; });
      task.tries += Uint(t["tries"]);
      task.none += Uint(t["no_answer"]["count"]);
      for (element a : Array(t, "answered")) {
        const std::string model(String(a["model"]));
        Find(task.answered, [&](const auto& x) { return x.first == model; },
             [&](auto& x) { x.first = model; }).second += Uint(a["count"]);
      }
      task.budget.Add(t["top_budget_use"]);
    }
    for (element t : Array(r, "lag")) {
      const std::string name = TaskName(t);
      for (element w : Array(t, "windows")) {
        const std::string start(String(w["start"]));
        Window& win = Find(windows, [&](const Window& x) { return x.task == name && x.start == start; },
                           [&](Window& x) { x.task = name, x.start = start; });
        const uint64_t n = Uint(w["count"]);
        win.count += n;
        win.sum_ms += Double(w["avg_ms"]) * static_cast<double>(n);
        win.lag.Add(w);
      }
    }
    auto device_name = [&](element e) {
      return server.empty() ? std::string(String(e["device"])) : server + " " + std::string(String(e["device"]));
    };
    for (element o : Array(r, "occupancy")) {
      const double pct = o["device_pct"].error() ? Double(o["pct"]) : Double(o["device_pct"]);  // an older server: pct
      occupancy.push_back({device_name(o), std::string(String(o["model"])), pct});
    }
    for (element d : Array(r, "devices")) {
      Device& device = devices.emplace_back(Device{device_name(d), Double(d["free_pct"]), Or(d["up"].get_bool(), true)});
      if (element gpu; d["gpu"].get(gpu) == simdjson::SUCCESS) {
        constexpr double kGiB = 1024.0 * 1024 * 1024;
        device.gpu_pct = Double(gpu["utilization_pct"]);
        device.gpu_used_gib = Double(gpu["memory_used_bytes"]) / kGiB;
        device.gpu_total_gib = Double(gpu["memory_total_bytes"]) / kGiB;
      }
    }
  }

  static std::string TaskName(element t) { return std::string(String(t["task"])) + " @" + std::string(String(t["instance"])); }
  // A field's value, or empty / zero when it is absent or of another type.
  template <class T>
  static T Or(simdjson::simdjson_result<T> r, T fallback) {
    T v;
    return std::move(r).get(v) == simdjson::SUCCESS ? v : fallback;
  }
  static std::string_view String(simdjson::simdjson_result<element> e) { return Or(e.get_string(), std::string_view()); }
  static double Double(simdjson::simdjson_result<element> e) { return Or(e.get_double(), 0.0); }
  static int64_t Int(simdjson::simdjson_result<element> e) { return Or(e.get_int64(), int64_t{0}); }
  static uint64_t Uint(simdjson::simdjson_result<element> e) { return Or(e.get_uint64(), uint64_t{0}); }
};

double Pct(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

void PrintDowngrade(const Report& report, std::ostream& out) {
  std::vector<std::string> header{"Down Grade %"}, models;  // rows: every model, in first-seen order
  for (const Report::Task& t : report.tasks) {
    header.push_back(t.name);
    for (const auto& [m, n] : t.answered) {
      if (std::find(models.begin(), models.end(), m) == models.end()) models.push_back(m);
    }
  }
  Table table(header);
  std::vector<std::string> tries{"tries"}, none{"no answer"}, budget{"top model's budget use, p90"};
  for (const Report::Task& t : report.tasks) {
    tries.push_back(std::to_string(t.tries));
    none.push_back(Fixed(Pct(t.none, t.tries)));
    budget.push_back(t.budget.count() ? Fixed(t.budget.Quantile(0.9), 2) : "");
  }
  table.Add(tries);
  for (const std::string& m : models) {
    std::vector<std::string> r{m};
    for (const Report::Task& t : report.tasks) {
      auto it = std::find_if(t.answered.begin(), t.answered.end(), [&](const auto& x) { return x.first == m; });
      r.push_back(it != t.answered.end() ? Fixed(Pct(it->second, t.tries)) : "");
    }
    table.Add(r);
  }
  table.Add(none);
  table.Add(budget);
  table.Print(out);
}

void PrintLag(const Report& report, std::ostream& out) {
  Table table({"Lag time (10 min windows)", "window start", "tries", "avg ms", "p50 ms", "p99 ms"});
  for (const Report::Window& w : report.windows) {
    table.Add({w.task, w.start, std::to_string(w.count), Fixed(w.count ? w.sum_ms / static_cast<double>(w.count) : 0),
               Fixed(w.lag.Quantile(0.5)), Fixed(w.lag.Quantile(0.99))});
  }
  table.Print(out);
}

void PrintOccupancy(const Report& report, std::ostream& out) {
  std::vector<std::string> devices, models;
  std::map<std::pair<std::string, std::string>, double> pct;
  for (const Report::Occupancy& o : report.occupancy) {
    if (std::find(devices.begin(), devices.end(), o.device) == devices.end()) devices.push_back(o.device);
    if (std::find(models.begin(), models.end(), o.model) == models.end()) models.push_back(o.model);
    pct[{o.device, o.model}] = o.pct;
  }
  // The talk's table: each model's part of each device, and what is free.
  std::vector<std::string> header{"Model resource occupancy % of each device (60 s)"};
  header.insert(header.end(), models.begin(), models.end());
  header.push_back("free");
  // With a driver's readings (NVML), what the GPU itself says beside them.
  const bool readings = std::any_of(report.devices.begin(), report.devices.end(),
                                    [](const Report::Device& d) { return d.gpu_pct >= 0; });
  if (readings) header.insert(header.end(), {"GPU busy %", "GPU memory GiB"});
  Table table(header);
  for (const std::string& d : devices) {
    auto device = std::find_if(report.devices.begin(), report.devices.end(),
                               [&](const Report::Device& x) { return x.device == d; });
    const bool known = device != report.devices.end();
    std::vector<std::string> r{known && !device->up ? d + " (drained)" : d};
    for (const std::string& m : models) r.push_back(pct.count({d, m}) ? Fixed(pct.at({d, m})) : "");
    r.push_back(known ? Fixed(device->free_pct) : "");
    if (readings) {
      const bool read = known && device->gpu_pct >= 0;
      r.push_back(read ? Fixed(device->gpu_pct) : "");
      r.push_back(read ? Fixed(device->gpu_used_gib) + " / " + Fixed(device->gpu_total_gib) : "");
    }
    table.Add(r);
  }
  table.Print(out);
}

// One server's report, parsed into `parser`; the raw exchange, so that an
// HTTP error prints the server's body as sent.
StatusOr<element> Fetch(client::Client& tbms, const std::string& url, simdjson::dom::parser& parser) {
  auto res = tbms.Call("GET", "/v1/report", "", std::chrono::seconds(5));
  if (!res.ok()) return Status(res.status().code(), url + ": " + res.status().message());
  if (res->status != 200) return Unavailable(url + ": HTTP " + std::to_string(res->status) + ": " + res->body);
  element report;
  if (parser.parse(res->body).get(report) != simdjson::SUCCESS) {
    return InvalidArgument(url + ": the server sent malformed JSON");
  }
  return report;
}

int PrintOnce(const ReportFlags& f, const std::vector<std::unique_ptr<client::Client>>& servers, bool clear) {
  Report report;
  for (size_t i = 0; i < servers.size(); ++i) {
    simdjson::dom::parser parser;  // one per server: an element lives as long as its parser's document
    StatusOr<element> r = Fetch(*servers[i], f.urls[i], parser);
    if (!r.ok()) {
      std::cerr << "tbms report: " << r.status().message() << "\n";
      return 1;
    }
    report.Add(*r, servers.size() > 1 ? f.urls[i] : "");
  }
  std::ostringstream out;  // drawn at once, so --watch does not flicker
  if (clear) out << "\x1b[H\x1b[2J";
  out << "TBMS report from " << (f.urls.size() > 1 ? std::to_string(f.urls.size()) + " servers" : f.urls[0])
      << " at " << report.now << ", up " << Fixed(report.uptime_s, 0) << " s, ";
  if (!report.instance.empty()) {  // an instance's key: its part only
    out << "instance " << report.instance << "\n\n";
  } else {
    out << "QPS " << Fixed(report.qps_1s) << " (1 s) " << Fixed(report.qps_60s) << " (60 s), pending "
        << report.pending << ", core lag " << Fixed(report.core_lag_ms, 1) << " ms"
        << (f.urls.size() > 1 ? " (the most of any)" : "") << "\n\n";
  }
  PrintDowngrade(report, out);
  out << "\n";
  PrintLag(report, out);
  out << "\n";
  PrintOccupancy(report, out);
  std::cout << out.str() << std::flush;
  return 0;
}

int RunReport(const ReportFlags& f) {
  std::vector<std::unique_ptr<client::Client>> servers;
  for (const std::string& url : f.urls) {
    auto tbms = MakeClient(url, f.credentials, "default", 5000);  // /v1/report names no instance
    if (!tbms.ok()) {
      std::cerr << "tbms report: " << tbms.status().message() << "\n";
      return 2;
    }
    servers.push_back(std::move(tbms).value());
  }
  if (!f.watch) return PrintOnce(f, servers, false);
  for (int i = 0; f.count == 0 || i < f.count; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::duration<double>(f.interval_s));
    if (int rc = PrintOnce(f, servers, true); rc != 0) return rc;
  }
  return 0;
}

}  // namespace

void AddReport(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Print a server's (or a fleet's) Down Grade %, Lag time and occupancy tables");
  cmd->add_option("--url", flags->urls,
                  "Server URL; give it once per server to merge a fleet's reports into one set of tables "
                  "(the brokers' for Down Grade % and Lag time, the workers' too for occupancy)")
      ->capture_default_str();
  cmd->add_flag("--watch", flags->watch, "Redraw every --interval-s until interrupted");
  cmd->add_option("--interval-s", flags->interval_s, "Seconds between redraws")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  cmd->add_option("--count", flags->count, "With --watch: stop after this many redraws (0: never)")
      ->check(CLI::Range(0, 1000000));
  AddCredentialFlags(cmd, flags->credentials);
  cmd->callback([flags, cmd] {
    std::string refused;
    if (!flags->watch && (cmd->count("--interval-s") > 0 || cmd->count("--count") > 0)) {
      refused = "--interval-s and --count apply to --watch";
    }
    for (size_t i = 0; i < flags->urls.size() && refused.empty(); ++i) {
      if (std::count(flags->urls.begin(), flags->urls.end(), flags->urls[i]) > 1) {
        refused = "--url " + flags->urls[i] + " is given twice: its report would count twice";
      }
    }
    if (!refused.empty()) {
      std::cerr << "tbms report: " << refused << "\n";
      return SetExitCode(2);
    }
    SetExitCode(RunReport(*flags));
  });
}

}  // namespace tbms::tools
