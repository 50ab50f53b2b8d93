// tbms tune: the offline tuner (the talk's opiConfigure). Profiles each
// model's batch-time curve on its device (a house's real backends, or
// simulated models), then recommends, for a QPS to carry within a lag, the
// max batch size, max queue delay and replica count, with the predicted
// QPS_max, lag and occupancy (tbms/tune/recommend.h has the formulas),
// checks the recommendation with the real batcher on a virtual clock, and
// writes a model.toml patch and plots for each model.
// Exit 0 when every model's goal is met, 1 when one is not (or profiling
// fails), 2 on bad flags.
#include <algorithm>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "commands.h"
#include "format.h"
#include "ramp_spec.h"
#include "tbms/backends/registry.h"
#include "tbms/backends/simulated.h"
#include "tbms/batching/batcher.h"
#include "tbms/common/json_writer.h"
#include "tbms/common/virtual_clock.h"
#include "tbms/server/real_clock.h"
#include "tbms/server/simulate_spec.h"
#include "tbms/tune/charts.h"
#include "tbms/tune/check.h"
#include "tbms/tune/online_ramp.h"
#include "tbms/tune/profile.h"

extern char** environ;

namespace tbms::tools {
namespace {

namespace fs = std::filesystem;

struct TuneFlags {
  std::string simulate;
  std::string house;
  std::vector<std::string> models;
  ProfileOptions profile;
  TuneGoal goal;
  double lag_ms = 0;  // 0: a house model's lag_target_ms
  size_t check_requests = 20'000;
  std::string online_ramp;  // FROM:TO:STEPS, multiples of --qps
  double step_s = 10;
  std::string out = "tbms-tune";
  bool json = false;
  bool quiet = false;
};

// A model to profile, and how its batches run.
struct Subject {
  std::string model;
  std::string device;
  double lag_ms = 0;
  std::unique_ptr<Executor> executor;
  bool virtual_clock = false;  // simulated: profiled on the virtual clock
};

struct Tuned {
  const Subject* subject;
  BatchCurve curve;
  TuneGoal goal;
  Recommendation rec;
  std::optional<CheckResult> check;
  std::vector<RampConfig> ramp_configs;
  std::vector<RampStepResult> ramp;
  std::vector<std::string> files;
};

std::string Percent(double share) { return Fixed(share * 100, 0) + "%"; }

// Where the servers run real backends: a core on an io_context of its own.
class RealCore {
 public:
  RealCore() : guard_(ioc_.get_executor()), core_(ioc_.get_executor()), thread_([this] { ioc_.run(); }) {}
  ~RealCore() {
    core_.Stop();
    guard_.reset();
    thread_.join();
  }
  ExecutorContext context() { return {.clock = &core_.clock, .core = &core_.runner}; }
  CoreRunner& runner() { return core_.runner; }

 private:
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  RealTimeCore core_;
  std::thread thread_;
};

StatusOr<std::vector<Subject>> SimulatedSubjects(const TuneFlags& f, VirtualClock& clock) {
  SimulateDefaults defaults;
  defaults.batching.max_batch_size = f.profile.max_batch;
  auto specs = ParseSimulateSpec(f.simulate, defaults);
  if (!specs.ok()) return specs.status();
  std::vector<Subject> out;
  for (SimulatedModelSpec& spec : *specs) {
    spec.simulated.replicas = 1;
    auto executor = SimulatedExecutor::Create(spec.simulated, &clock);
    if (!executor.ok()) return executor.status();
    out.push_back({.model = spec.simulated.model, .device = "simulated", .lag_ms = f.lag_ms,
                   .executor = std::move(executor).value(), .virtual_clock = true});
  }
  return out;
}

bool Wanted(const TuneFlags& f, const ModelConfig& m) {
  return f.models.empty() || std::find(f.models.begin(), f.models.end(), m.name) != f.models.end();
}

StatusOr<std::vector<Subject>> HouseSubjects(const TuneFlags& f, VirtualClock& clock, RealCore& core) {
  // The tuner calls no one: the access keys' secrets need not be present.
  auto house = LoadHouse(f.house, HouseLimits{.read_secrets = false});
  if (!house.ok()) return house.status();
  for (const std::string& name : f.models) {
    auto named = [&](const ModelConfig& m) { return m.name == name; };
    if (std::none_of(house->models.begin(), house->models.end(), named)) {
      return InvalidArgument("--model: the house has no model '" + name + "'");
    }
  }
  std::vector<Subject> out;
  for (const ModelConfig& m : house->models) {
    if (!Wanted(f, m)) continue;
    if (m.is_mix()) {
      if (!f.models.empty()) return InvalidArgument("--model: '" + m.name + "' is a mix: tune its members");
      continue;
    }
    const double lag = f.lag_ms > 0 ? f.lag_ms : ToMillis(m.lag_target);
    if (lag <= 0) return InvalidArgument("model '" + m.name + "' has no lag_target_ms: give --lag-ms");
    if (m.versions.empty()) return InvalidArgument("model '" + m.name + "' has no version to profile");
    const bool simulated = m.is_simulated();
    ExecutorContext context = core.context();
    if (simulated) context.clock = &clock;
    if (!f.quiet) std::cerr << "tbms tune: loading " << m.name << " (" << m.backend << ")\n";
    auto executor = LoadBackend(m, m.versions.back(), context);
    if (!executor.ok()) return executor.status();
    out.push_back({.model = m.name, .device = m.device, .lag_ms = lag, .executor = std::move(executor).value(),
                   .virtual_clock = simulated});
  }
  if (out.empty()) return InvalidArgument("the house has no model to tune");
  return out;
}

std::string PatchToml(const Tuned& t) {
  const OperatingPoint& p = t.rec.best;
  std::string s = "# tbms tune, " + t.subject->model + " on " + t.subject->device + ": " + Fixed(t.goal.qps, 0) +
                  " QPS within " + Fixed(t.goal.lag_ms) + " ms, occupancy <= " + Percent(t.goal.max_occupancy) +
                  (t.rec.met ? "" : " (NOT MET: the closest)") + "\n";
  s += "# predicted: lag " + Fixed(p.lag_ms) + " ms, QPS_max " + Fixed(p.qps_max * p.replicas) + ", occupancy " +
       Percent(p.occupancy) + "\n";
  if (t.check) {
    s += "# checked (virtual clock, " + std::to_string(t.check->requests) + " requests): mean lag " +
         Fixed(t.check->mean_lag_ms) + " ms, p99 " + Fixed(t.check->p99_lag_ms) + " ms\n";
  }
  s += "replicas = " + std::to_string(p.replicas) + "\n\n[batching]\nmax_batch_size = " +
       std::to_string(p.batch_size) + "\nmax_queue_delay_ms = " + Fixed(p.queue_delay_ms, 2) + "\n";
  return s;
}

// rsvg-convert (Debian's librsvg2-bin, which scripts/setup installs), if on the PATH.
bool SvgToPng(const fs::path& svg, const fs::path& png) {
  const std::string in = svg.string(), out = png.string();
  const char* argv[] = {"rsvg-convert", "-o", out.c_str(), in.c_str(), nullptr};
  pid_t pid;
  if (posix_spawnp(&pid, "rsvg-convert", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) return false;
  int status = 0;
  return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

Status WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream file(path);
  file << text;
  file.close();
  if (!file) return FailedPrecondition("cannot write " + path.string());
  return OkStatus();
}

Status WriteFiles(const std::string& out, Tuned& t) {
  const fs::path dir = fs::path(out) / t.subject->model;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return FailedPrecondition("cannot create " + dir.string() + ": " + ec.message());
  const fs::path patch = dir / "model.toml.patch";
  if (Status s = WriteFile(patch, PatchToml(t)); !s.ok()) return s;
  t.files.push_back(patch.string());
  static bool png_warned = false;  // once per run, not once per plot
  for (const NamedChart& c : TuneCharts(t.curve, t.goal, t.rec)) {
    const fs::path svg = dir / (c.name + ".svg");
    if (Status s = WriteFile(svg, RenderSvg(c.chart)); !s.ok()) return s;
    t.files.push_back(svg.string());
    fs::path png = svg;
    png.replace_extension(".png");
    if (SvgToPng(svg, png)) {
      t.files.push_back(png.string());
    } else if (!png_warned) {
      png_warned = true;
      std::cerr << "tbms tune: SVG only: rsvg-convert (librsvg2-bin, which scripts/setup installs) did not run\n";
    }
  }
  return OkStatus();
}

void PrintRow(const OperatingPoint& one, const OperatingPoint& fewest, bool best, std::ostream& out) {
  char line[200];
  std::snprintf(line, sizeof line, "%s%5d %8.3f %9.1f   %8.1f %6s   %8d %8.1f %6s %8.2f  %s\n", best ? ">" : " ",
                one.batch_size, one.batch_ms, one.qps_max, one.lag_ms, Percent(one.occupancy).c_str(),
                fewest.replicas, fewest.lag_ms, Percent(fewest.occupancy).c_str(), fewest.queue_delay_ms,
                fewest.meets() ? "yes" : fewest.meets_qps ? "no: lag" : "no: qps");
  out << line;
}

void PrintVerdict(const Tuned& t, std::ostream& out) {
  const OperatingPoint& p = t.rec.best;
  out << (t.rec.met ? "recommended: " : "NOT MET, closest: ") << "max_batch_size " << p.batch_size
      << ", max_queue_delay_ms " << Fixed(p.queue_delay_ms, 2) << ", replicas " << p.replicas << ": lag "
      << Fixed(p.lag_ms) << " ms, QPS_max " << Fixed(p.qps_max * p.replicas) << " (" << p.replicas << " x "
      << Fixed(p.qps_max) << "), occupancy " << Percent(p.occupancy) << "\n";
  if (t.rec.needs_more_replicas) {
    const OperatingPoint* carries = nullptr;  // the fastest one-replica point that carries the QPS
    for (const OperatingPoint& o : t.rec.one_replica) {
      if (o.meets_qps && (carries == nullptr || o.lag_ms < carries->lag_ms)) carries = &o;
    }
    out << "  no batch size meets both on one replica: ";
    if (carries != nullptr) {
      out << "batch " << carries->batch_size << " carries " << Fixed(t.goal.qps, 0) << " QPS but lags "
          << Fixed(carries->lag_ms) << " ms";
    } else {
      out << "none carries " << Fixed(t.goal.qps, 0) << " QPS";
    }
    out << "; " << p.replicas << " replicas at batch " << p.batch_size << " meet both\n";
  }
  if (!t.rec.met) {
    out << "  " << (p.meets_qps ? "no replica count within --max-replicas brings the lag to " +
                                      Fixed(t.goal.lag_ms) + " ms (one item alone takes " +
                                      Fixed(t.curve.at(1)) + " ms)"
                                : "--max-replicas " + std::to_string(t.goal.max_replicas) + " cannot carry " +
                                      Fixed(t.goal.qps, 0) + " QPS")
        << "\n";
  }
}

void PrintRamp(const Tuned& t, const TuneFlags& f, std::ostream& out);

void PrintTable(const Tuned& t, const TuneFlags& f, std::ostream& out) {
  const ProfileOptions& profile = f.profile;
  out << t.subject->model << " (device " << t.subject->device << "): goal " << Fixed(t.goal.qps, 0) << " QPS, lag <= "
      << Fixed(t.goal.lag_ms) << " ms, occupancy <= " << Percent(t.goal.max_occupancy) << " (batch times: median of "
      << profile.repeats << ")\n";
  out << "  batch  T_b ms  QPS_max    1 replica: lag ms  occ   fewest replicas: n  lag ms   occ  delay ms  meets\n";
  for (int b = 1; b <= t.curve.max_batch(); ++b) {
    const bool shown = t.curve.max_batch() <= 32 || (b & (b - 1)) == 0 || b == t.rec.best.batch_size;
    if (shown) PrintRow(t.rec.one_replica[b - 1], t.rec.fewest_replicas[b - 1], b == t.rec.best.batch_size, out);
  }
  PrintVerdict(t, out);
  if (t.check) {
    out << "check (the real batcher on a virtual clock, " << t.check->requests << " Poisson requests): mean lag "
        << Fixed(t.check->mean_lag_ms) << " ms (predicted " << Fixed(t.rec.best.lag_ms) << "), p99 "
        << Fixed(t.check->p99_lag_ms) << " ms, occupancy " << Percent(t.check->occupancy) << ", mean batch "
        << Fixed(t.check->mean_batch, 2) << (t.check->refused > 0 ? ", refused " + std::to_string(t.check->refused) : "")
        << "\n";
  }
  if (!t.ramp.empty()) PrintRamp(t, f, out);
  if (!t.files.empty()) out << "wrote " << t.files.front() << " and " << t.files.size() - 1 << " plots\n";
  out << "\n";
}

void PointJson(JsonWriter& w, const OperatingPoint& p) {
  w.BeginObject()
      .Key("batch_size").Int(p.batch_size)
      .Key("replicas").Int(p.replicas)
      .Key("batch_time_ms").Number(p.batch_ms)
      .Key("qps_max_per_replica").Number(p.qps_max)
      .Key("queue_delay_ms").Number(p.queue_delay_ms)
      .Key("lag_ms").Number(p.lag_ms)
      .Key("occupancy").Number(p.occupancy)
      .Key("cost_ms_per_response").Number(p.cost_ms)
      .Key("meets").Bool(p.meets())
      .EndObject();
}

void ModelJson(JsonWriter& w, const Tuned& t) {
  const OperatingPoint& p = t.rec.best;
  w.BeginObject()
      .Key("model").String(t.subject->model)
      .Key("device").String(t.subject->device)
      .Key("qps").Number(t.goal.qps)
      .Key("lag_ms").Number(t.goal.lag_ms)
      .Key("max_occupancy").Number(t.goal.max_occupancy)
      .Key("met").Bool(t.rec.met)
      .Key("needs_more_replicas").Bool(t.rec.needs_more_replicas)
      .Key("max_batch_size").Int(p.batch_size)
      .Key("max_queue_delay_ms").Number(p.queue_delay_ms)
      .Key("instances").Int(p.replicas)
      .Key("replicas").Int(p.replicas)
      .Key("predicted_lag_ms").Number(p.lag_ms)
      .Key("qps_max").Number(p.qps_max * p.replicas)
      .Key("qps_max_per_replica").Number(p.qps_max)
      .Key("occupancy").Number(p.occupancy)
      .Key("cost_ms_per_response").Number(p.cost_ms);
  w.Key("curve").BeginArray();
  for (double ms : t.curve.batch_ms) w.Number(ms);
  w.EndArray().Key("one_replica").BeginArray();
  for (const OperatingPoint& o : t.rec.one_replica) PointJson(w, o);
  w.EndArray().Key("fewest_replicas").BeginArray();
  for (const OperatingPoint& o : t.rec.fewest_replicas) PointJson(w, o);
  w.EndArray();
  if (t.check) {
    w.Key("check").BeginObject()
        .Key("requests").Int(t.check->requests)
        .Key("refused").Int(t.check->refused)
        .Key("mean_lag_ms").Number(t.check->mean_lag_ms)
        .Key("p99_lag_ms").Number(t.check->p99_lag_ms)
        .Key("occupancy").Number(t.check->occupancy)
        .Key("mean_batch").Number(t.check->mean_batch)
        .EndObject();
  }
  if (!t.ramp.empty()) {
    w.Key("online_ramp").BeginArray();
    for (const RampStepResult& step : t.ramp) {
      w.BeginObject().Key("qps").Number(step.qps);
      for (size_t c = 0; c < step.outcomes.size(); ++c) {
        const RampOutcome& r = step.outcomes[c];
        w.Key(t.ramp_configs[c].name).BeginObject()
            .Key("p99_ms").Number(r.p99_ms)
            .Key("mean_ms").Number(r.mean_ms)
            .Key("max_batch_size").Int(r.max_batch_size)
            .Key("max_queue_delay_ms").Number(r.max_queue_delay_ms)
            .Key("busy_ms_per_response").Number(r.busy_ms_per_response)
            .EndObject();
      }
      w.EndObject();
    }
    w.EndArray();
  }
  w.Key("files").BeginArray();
  for (const std::string& file : t.files) w.String(file);
  w.EndArray().EndObject();
}

void PrintJson(const std::vector<Tuned>& all, std::ostream& out) {
  std::string s;
  JsonWriter w(s);
  if (all.size() == 1) {
    ModelJson(w, all.front());
  } else {
    w.BeginObject().Key("models").BeginArray();
    for (const Tuned& t : all) ModelJson(w, t);
    w.EndArray().EndObject();
  }
  out << s << "\n";
}

// A message on stderr; exit 2 for what the flags got wrong, 1 for a failed run.
int Fail(const Status& status) {
  std::cerr << "tbms tune: " << status.message() << "\n";
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

// The online tuner against two fixed configurations on the recommended
// replicas: the recommendation itself (tuned for --qps) and greedy batching
// (every batch up to --max-batch, no delay).
Status RunRamp(const TuneFlags& f, const std::vector<double>& levels, Tuned& t) {
  OnlineRampOptions o{.curve = t.curve, .replicas = t.rec.best.replicas, .lag_target = Millis(t.goal.lag_ms),
                      .max_batch_cap = t.curve.max_batch(), .qps = {}, .step = Millis(f.step_s * 1000),
                      .configs = {}, .seed = 1};
  for (double level : levels) o.qps.push_back(level * t.goal.qps);
  const Duration tuned_delay = Millis(t.rec.best.queue_delay_ms);
  // The online tuner starts greedy: no deliberate wait before it has measured.
  o.configs = {{"online", true, t.curve.max_batch(), Duration(0)},
               {"tuned@" + Fixed(t.goal.qps, 0), false, t.rec.best.batch_size, tuned_delay},
               {"greedy", false, t.curve.max_batch(), Duration(0)}};
  auto ramp = RunOnlineRamp(o);
  if (!ramp.ok()) return ramp.status();
  t.ramp_configs = o.configs;
  t.ramp = std::move(ramp).value();
  return OkStatus();
}

void PrintRamp(const Tuned& t, const TuneFlags& f, std::ostream& out) {
  out << "online ramp (virtual clock, " << Fixed(f.step_s, 1) << " s per step, " << t.rec.best.replicas
      << " replica(s), lag target " << Fixed(t.goal.lag_ms) << " ms): p99 lag ms per step\n";
  out << "     QPS   online p99  batch  delay ms";
  for (size_t c = 1; c < t.ramp_configs.size(); ++c) {
    char head[64];
    std::snprintf(head, sizeof head, "  %12s p99", t.ramp_configs[c].name.c_str());
    out << head;
  }
  out << "\n";
  std::vector<int> over(t.ramp_configs.size());
  std::vector<double> busy(t.ramp_configs.size());
  for (const RampStepResult& step : t.ramp) {
    char line[96];
    const RampOutcome& online = step.outcomes[0];
    std::snprintf(line, sizeof line, "%8.1f %12.1f %6d %9.2f", step.qps, online.p99_ms, online.max_batch_size,
                  online.max_queue_delay_ms);
    out << line;
    for (size_t c = 0; c < step.outcomes.size(); ++c) {
      over[c] += step.outcomes[c].p99_ms > t.goal.lag_ms;
      busy[c] += step.outcomes[c].busy_ms_per_response / t.ramp.size();
      if (c == 0) continue;
      std::snprintf(line, sizeof line, "  %16.1f", step.outcomes[c].p99_ms);
      out << line;
    }
    out << "\n";
  }
  out << "steps over the target:";
  for (size_t c = 0; c < over.size(); ++c) {
    out << (c ? ", " : " ") << t.ramp_configs[c].name << " " << over[c] << "/" << t.ramp.size();
  }
  out << "; device ms per response (mean over steps):";
  for (size_t c = 0; c < busy.size(); ++c) out << (c ? ", " : " ") << t.ramp_configs[c].name << " " << Fixed(busy[c], 2);
  out << "\n";
}

// `ramp`: the --online-ramp's levels as multiples of --qps (none: no ramp).
StatusOr<Tuned> TuneOne(const TuneFlags& f, const std::vector<double>& ramp, Subject& subject, VirtualClock& clock,
                        RealCore* core) {
  Tuned t{.subject = &subject, .curve = {}, .goal = f.goal, .rec = {}, .check = {}, .ramp_configs = {}, .ramp = {},
          .files = {}};
  t.goal.lag_ms = subject.lag_ms;
  if (Status s = ValidateTuneGoal(t.goal); !s.ok()) return s;
  const bool tty = isatty(2);
  ProfileProgress progress;
  if (!f.quiet) {
    progress = [&subject, tty](int b, int max) {
      // A log gets the powers of two and the last; a terminal every size, in place.
      if (!tty && (b & (b - 1)) != 0 && b != max) return;
      std::fprintf(stderr, "%stbms tune: profiling %s on %s: batch %d/%d%s", tty ? "\r" : "", subject.model.c_str(),
                   subject.device.c_str(), b, max, tty && b < max ? "" : "\n");
    };
  }
  const RunBatch run = subject.virtual_clock ? RunOnVirtualClock(*subject.executor, clock)
                                             : RunOnCore(*subject.executor, core->runner(), std::chrono::seconds(60));
  auto curve = ProfileBatchCurve(subject.model, run, f.profile, progress);
  if (!curve.ok()) return Status(curve.status().code(), subject.model + ": " + curve.status().message());
  t.curve = std::move(curve).value();
  t.rec = Recommend(t.curve, t.goal);
  if (f.check_requests > 0) {
    auto check = CheckOnVirtualClock(t.curve, t.rec.best, t.goal.qps, f.check_requests);
    if (!check.ok()) return check.status();
    t.check = *check;
  }
  if (!ramp.empty()) {
    if (Status s = RunRamp(f, ramp, t); !s.ok()) return s;
  }
  if (!f.out.empty()) {
    if (Status s = WriteFiles(f.out, t); !s.ok()) return s;
  }
  return t;
}

int RunTune(const TuneFlags& f) {
  if (f.simulate.empty() == f.house.empty()) return Fail(InvalidArgument("give --simulate or --house (one of them)"));
  if (!f.models.empty() && f.house.empty()) return Fail(InvalidArgument("--model names a model of --house"));
  if (!f.simulate.empty() && f.lag_ms <= 0) return Fail(InvalidArgument("--simulate needs --lag-ms"));
  if (Status s = ValidateProfileOptions(f.profile); !s.ok()) return Fail(s);
  std::vector<double> ramp;
  if (!f.online_ramp.empty()) {
    auto levels = ParseRampSpec(f.online_ramp, "--online-ramp");
    if (!levels.ok()) return Fail(levels.status());
    ramp = UpAndDown(std::move(levels).value());
  }
  VirtualClock clock;
  // Real backends post their results to a core; destroyed after them.
  std::unique_ptr<RealCore> core = f.house.empty() ? nullptr : std::make_unique<RealCore>();
  auto subjects = core ? HouseSubjects(f, clock, *core) : SimulatedSubjects(f, clock);
  if (!subjects.ok()) return Fail(subjects.status());
  std::vector<Tuned> all;
  for (Subject& subject : *subjects) {
    auto t = TuneOne(f, ramp, subject, clock, core.get());
    if (!t.ok()) return Fail(t.status());
    if (!f.json) PrintTable(*t, f, std::cout);
    all.push_back(std::move(t).value());
  }
  if (f.json) PrintJson(all, std::cout);
  const bool met = std::all_of(all.begin(), all.end(), [](const Tuned& t) { return t.rec.met; });
  return met ? 0 : 1;
}

}  // namespace

void AddTune(CLI::App& app) {
  auto flags = std::make_shared<TuneFlags>();
  CLI::App* cmd = app.add_subcommand(
      "tune", "Recommend max batch size, queue delay and replicas for a QPS within a lag, from each model's "
              "profiled batch-time curve; writes a model.toml patch and plots. Exit 0: every goal met; 1: not met "
              "(the closest is printed) or profiling failed; 2: bad flags");
  cmd->add_option("--simulate", flags->simulate,
                  "Simulated models NAME=MS[:PER_ITEM_MS],... (a batch of n takes MS + PER_ITEM_MS x (n - 1); "
                  "default PER_ITEM_MS: MS/10)");
  cmd->add_option("--house", flags->house, "A model house: profile its models' real backends (mixes are skipped)");
  cmd->add_option("--model", flags->models, "With --house: only this model (repeatable)");
  cmd->add_option("--qps", flags->goal.qps, "Requests per second each model must carry")
      ->required()->check(CLI::Range(0.001, 1e7));
  cmd->add_option("--lag-ms", flags->lag_ms,
                  "The lag (queue wait + service, ms) not to exceed; with --house, default: each model's lag_target_ms")
      ->check(CLI::Range(0.001, 3600000.0));
  cmd->add_option("--max-batch", flags->profile.max_batch, "Profile batch sizes 1 .. N")
      ->check(CLI::Range(1, Batcher::kMaxBatchSize))->capture_default_str();
  cmd->add_option("--repeats", flags->profile.repeats, "Runs per batch size (the median counts), after one warm-up")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->add_option("--question", flags->profile.question, "What real backends are asked while profiling")
      ->capture_default_str();
  cmd->add_option("--max-occupancy", flags->goal.max_occupancy,
                  "The busiest share of time a replica may be planned at (headroom for bursts)")
      ->check(CLI::Range(0.01, 1.0))->capture_default_str();
  cmd->add_option("--max-replicas", flags->goal.max_replicas, "The most replicas to recommend")
      ->check(CLI::Range(1, Batcher::kMaxReplicas))->capture_default_str();
  cmd->add_option("--check-requests", flags->check_requests,
                  "Poisson requests of the check on the virtual clock (0: no check)")
      ->check(CLI::Range(size_t{0}, size_t{10'000'000}))->capture_default_str();
  cmd->add_option("--out", flags->out,
                  "Folder for each model's model.toml.patch and plots (qps_lag, replicas_lag, occupancy, cost: "
                  "SVG, and PNG where rsvg-convert is installed); empty: write nothing")
      ->capture_default_str();
  cmd->add_option("--online-ramp", flags->online_ramp,
                  "Also run the online tuner on a load ramp FROM:TO:STEPS (multiples of --qps, up then down) on "
                  "the virtual clock, against the recommendation fixed and greedy batching");
  cmd->add_option("--step-s", flags->step_s, "With --online-ramp: seconds per step")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  cmd->add_flag("--json", flags->json,
                "Print JSON: one model's object (max_batch_size, max_queue_delay_ms, instances, predicted_lag_ms, "
                "qps_max, ...), or {\"models\": [...]} for several");
  cmd->add_flag("--quiet", flags->quiet, "No progress on stderr");
  cmd->callback([flags, cmd] {
    // Flags that would do nothing here are refused, not ignored.
    if (cmd->count("--step-s") > 0 && flags->online_ramp.empty()) {
      return SetExitCode(Fail(InvalidArgument("--step-s applies to --online-ramp")));
    }
    if (cmd->count("--question") > 0 && flags->house.empty()) {
      return SetExitCode(Fail(InvalidArgument("--question is what --house's real backends are asked; --simulate "
                                              "models read none")));
    }
    for (const std::string& model : flags->models) {
      if (std::count(flags->models.begin(), flags->models.end(), model) > 1) {
        return SetExitCode(Fail(InvalidArgument("--model " + model + " is given twice")));
      }
    }
    SetExitCode(RunTune(*flags));
  });
}

}  // namespace tbms::tools
