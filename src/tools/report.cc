// tbms report: the report channel's tables in the terminal — Down Grade %
// per task, Lag time (10 min windows) and Model resource occupancy % — read
// from a server's /v1/report, once or every --interval-s with --watch.
#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>
#include <vector>

#include "client_flags.h"
#include "commands.h"
#include "tbms/client/client.h"

namespace tbms::tools {
namespace {

using simdjson::dom::element;

struct ReportFlags {
  std::string url = "http://127.0.0.1:8000";
  bool watch = false;
  double interval_s = 2;
  int count = 0;  // with --watch: stop after this many refreshes (0: until interrupted)
  CredentialFlags credentials;
};

std::string Fixed(double v, int decimals = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

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

std::string TaskName(element t) {
  return std::string(t["task"].get_string().value_unsafe()) + " @" +
         std::string(t["instance"].get_string().value_unsafe());
}

void PrintDowngrade(element report, std::ostream& out) {
  std::vector<std::string> header{"Down Grade %"};
  std::vector<std::string> models;            // rows: every model, in first-seen order
  std::vector<std::map<std::string, double>> pct;
  std::vector<std::string> tries, none;
  for (element t : Array(report, "downgrade")) {
    header.push_back(TaskName(t));
    auto& col = pct.emplace_back();
    for (element a : Array(t, "answered")) {
      const std::string model(a["model"].get_string().value_unsafe());
      if (std::find(models.begin(), models.end(), model) == models.end()) models.push_back(model);
      col[model] = a["pct"].get_double().value_unsafe();
    }
    tries.push_back(std::to_string(t["tries"].get_int64().value_unsafe()));
    none.push_back(Fixed(t["no_answer"]["pct"].get_double().value_unsafe()));
  }
  Table table(header);
  std::vector<std::string> row{"tries"};
  row.insert(row.end(), tries.begin(), tries.end());
  table.Add(row);
  for (const std::string& m : models) {
    std::vector<std::string> r{m};
    for (const auto& col : pct) r.push_back(col.count(m) ? Fixed(col.at(m)) : "");
    table.Add(r);
  }
  std::vector<std::string> last{"no answer"};
  last.insert(last.end(), none.begin(), none.end());
  table.Add(last);
  table.Print(out);
}

void PrintLag(element report, std::ostream& out) {
  Table table({"Lag time (10 min windows)", "window start", "tries", "avg ms", "p50 ms", "p99 ms"});
  for (element t : Array(report, "lag")) {
    for (element w : Array(t, "windows")) {
      table.Add({TaskName(t), std::string(w["start"].get_string().value_unsafe()),
                 std::to_string(w["count"].get_int64().value_unsafe()),
                 Fixed(w["avg_ms"].get_double().value_unsafe()), Fixed(w["p50_ms"].get_double().value_unsafe()),
                 Fixed(w["p99_ms"].get_double().value_unsafe())});
    }
  }
  table.Print(out);
}

void PrintOccupancy(element report, std::ostream& out) {
  std::vector<std::string> devices, models;
  std::map<std::pair<std::string, std::string>, double> pct;
  for (element o : Array(report, "occupancy")) {
    const std::string d(o["device"].get_string().value_unsafe()), m(o["model"].get_string().value_unsafe());
    if (std::find(devices.begin(), devices.end(), d) == devices.end()) devices.push_back(d);
    if (std::find(models.begin(), models.end(), m) == models.end()) models.push_back(m);
    pct[{d, m}] = o["pct"].get_double().value_unsafe();
  }
  std::vector<std::string> header{"Model resource occupancy % (60 s)"};
  header.insert(header.end(), models.begin(), models.end());
  Table table(header);
  for (const std::string& d : devices) {
    std::vector<std::string> r{d};
    for (const std::string& m : models) r.push_back(pct.count({d, m}) ? Fixed(pct.at({d, m})) : "");
    table.Add(r);
  }
  table.Print(out);
}

// The raw exchange, so that an HTTP error prints the server's body as sent.
int PrintOnce(const ReportFlags& f, client::Client& tbms, bool clear) {
  auto res = tbms.Call("GET", "/v1/report", "", std::chrono::seconds(5));
  if (!res.ok()) {
    std::cerr << "tbms report: " << res.status().message() << "\n";
    return 1;
  }
  if (res->status != 200) {
    std::cerr << "tbms report: HTTP " << res->status << ": " << res->body << "\n";
    return 1;
  }
  simdjson::dom::parser parser;
  element report;
  if (parser.parse(res->body).get(report) != simdjson::SUCCESS) {
    std::cerr << "tbms report: the server sent malformed JSON\n";
    return 1;
  }
  std::ostringstream out;  // drawn at once, so --watch does not flicker
  if (clear) out << "\x1b[H\x1b[2J";
  out << "TBMS report from " << f.url << " at " << report["now"].get_string().value_unsafe() << ", up "
      << Fixed(report["uptime_s"].get_double().value_unsafe(), 0) << " s, ";
  std::string_view instance;
  if (report["instance"].get_string().get(instance) == simdjson::SUCCESS) {  // an instance's key: its part only
    out << "instance " << instance << "\n\n";
  } else {
    out << "QPS " << Fixed(report["qps"]["last_1s"].get_double().value_unsafe()) << " (1 s) "
        << Fixed(report["qps"]["last_60s"].get_double().value_unsafe()) << " (60 s), pending "
        << report["pending_tries"].get_int64().value_unsafe() << ", core lag "
        << Fixed(report["core_lag_ms"].get_double().value_unsafe(), 1) << " ms\n\n";
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
  auto tbms = MakeClient(f.url, f.credentials, "default", 5000);  // /v1/report names no instance
  if (!tbms.ok()) {
    std::cerr << "tbms report: " << tbms.status().message() << "\n";
    return 2;
  }
  if (!f.watch) return PrintOnce(f, **tbms, false);
  for (int i = 0; f.count == 0 || i < f.count; ++i) {
    if (i) std::this_thread::sleep_for(std::chrono::duration<double>(f.interval_s));
    if (int rc = PrintOnce(f, **tbms, true); rc != 0) return rc;
  }
  return 0;
}

}  // namespace

void AddReport(CLI::App& app) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* cmd = app.add_subcommand(
      "report", "Print a server's Down Grade %, Lag time and occupancy tables");
  cmd->add_option("--url", flags->url, "Server URL")->capture_default_str();
  cmd->add_flag("--watch", flags->watch, "Redraw every --interval-s until interrupted");
  cmd->add_option("--interval-s", flags->interval_s, "Seconds between redraws")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  cmd->add_option("--count", flags->count, "With --watch: stop after this many redraws (0: never)")
      ->check(CLI::Range(0, 1000000));
  AddCredentialFlags(cmd, flags->credentials);
  cmd->callback([flags] { SetExitCode(RunReport(*flags)); });
}

}  // namespace tbms::tools
