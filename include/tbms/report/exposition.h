// The report channel's outputs: Prometheus text (/metrics) and the JSON
// report (/v1/report) with the talk's three tables. Both read a
// StatsRegistry without the core lock. Thread-safe.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/report/stats.h"

namespace tbms {

// What the registry cannot know by itself.
struct ReportContext {
  TimePoint now;                                 // the engine clock's time
  std::chrono::system_clock::time_point wall;    // the same instant on the wall clock
  double uptime_s = 0;
  size_t pending_tries = 0;
  Duration core_lag{0};  // Clock::Lag: how late the core runs its timers lately
};

// Prometheus text exposition format 0.0.4: names prefixed tbms_, base units,
// counters ending in _total, HELP and TYPE for every metric.
void WritePrometheus(const StatsRegistry& stats, const ReportContext& ctx, std::string& out);

// What one instance's key may read of the report: its own tasks' rows and
// the models it may use (`models` empty: all); not the server-wide QPS,
// series and pending count.
struct ReportScope {
  std::string_view instance;
  const std::vector<std::string>* models = nullptr;

  bool Shows(std::string_view model) const;
};

// The JSON report: QPS, per-second series, downgrade %, lag windows,
// occupancy and per-model figures (schema in docs/api.md); `scope`, when
// given, narrows it to one instance.
void WriteReportJson(const StatsRegistry& stats, const ReportContext& ctx, std::string& out,
                     const ReportScope* scope = nullptr);

}  // namespace tbms
