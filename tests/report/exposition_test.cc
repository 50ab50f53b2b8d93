// The report channel's outputs. WritePrometheus: every family has # HELP and
// # TYPE before its samples, names are tbms_*, counters end in _total,
// histograms have ascending cumulative _bucket lines ending in le="+Inf",
// _sum and _count; label values are escaped; exact sample lines for a small
// hand-made registry (and promtool's verdict when it is installed).
// WriteReportJson: parsed back with simdjson — downgrade shares, reasons,
// lag windows newest first with start times on the context's wall clock,
// occupancy over min(60 s, uptime) per replica, and the per-second series.
#include "tbms/report/exposition.h"

#include <gtest/gtest.h>
#include <simdjson.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "report_test_util.h"

namespace tbms {
namespace {

using namespace report_test;  // NOLINT: the shared builders

using simdjson::dom::element;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// ------------------------------------------------ a small exposition parser

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped, in order
  std::string value;

  std::string Label(std::string_view key) const {
    for (const auto& [k, v] : labels) {
      if (k == key) return v;
    }
    return "<none>";
  }
  // The label set without `le`, as a key.
  std::string SeriesKey() const {
    std::string key;
    for (const auto& [k, v] : labels) {
      if (k != "le") key += k + "=" + v + ";";
    }
    return key;
  }
};

// Parses `name{k="v",...} value` with the format's escapes (\\, \", \n).
bool ParseSample(const std::string& line, Sample* s, std::string* error) {
  size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s->name = line.substr(0, i);
  if (s->name.empty()) return *error = "no name", false;
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const size_t eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return *error = "bad label", false;
      }
      std::string key = line.substr(i, eq - i), value;
      i = eq + 2;
      for (;; ++i) {
        if (i >= line.size()) return *error = "unterminated label value", false;
        if (line[i] == '"') break;
        if (line[i] == '\\') {
          if (++i >= line.size()) return *error = "dangling backslash", false;
          if (line[i] == 'n') value += '\n';
          else if (line[i] == '\\' || line[i] == '"') value += line[i];
          else return *error = "bad escape", false;
        } else {
          value += line[i];
        }
      }
      ++i;  // the closing quote
      s->labels.emplace_back(std::move(key), std::move(value));
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return *error = "unterminated labels", false;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return *error = "no value", false;
  s->value = line.substr(i + 1);
  if (s->value.empty() || s->value.find(' ') != std::string::npos) return *error = "bad value", false;
  return true;
}

double Value(const std::string& v) {
  if (v == "+Inf") return HUGE_VAL;
  char* end = nullptr;
  const double d = std::strtod(v.c_str(), &end);
  EXPECT_EQ(*end, '\0') << "not a number: " << v;
  return d;
}

bool EndsWith(std::string_view s, std::string_view suffix) { return s.ends_with(suffix); }

// Checks the text-format rules TBMS promises, and returns the samples.
std::vector<Sample> CheckExposition(const std::string& text) {
  std::vector<Sample> samples;
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  std::map<std::string, std::string> type_of;
  std::set<std::string> helped;
  std::string current;  // the family whose TYPE came last
  std::string pending_help;
  for (const std::string& line : Lines(text)) {
    SCOPED_TRACE(line);
    EXPECT_FALSE(line.empty());
    if (line.starts_with("# HELP ")) {
      std::istringstream in(line.substr(7));
      std::string name, help;
      in >> name;
      std::getline(in, help);
      EXPECT_TRUE(name.starts_with("tbms_"));
      EXPECT_FALSE(help.size() <= 1) << "empty help";
      EXPECT_TRUE(helped.insert(name).second) << "second HELP for " << name;
      EXPECT_EQ(pending_help, "") << "HELP without TYPE";
      pending_help = name;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      std::istringstream in(line.substr(7));
      std::string name, type, extra;
      in >> name >> type >> extra;
      EXPECT_EQ(extra, "");
      EXPECT_EQ(pending_help, name) << "TYPE not right after its HELP";
      pending_help.clear();
      EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram") << type;
      EXPECT_TRUE(type_of.emplace(name, type).second) << "second TYPE for " << name;
      if (type == "counter") {
        EXPECT_TRUE(EndsWith(name, "_total")) << name;
      } else {
        EXPECT_FALSE(EndsWith(name, "_total")) << name;
      }
      current = name;
      continue;
    }
    EXPECT_NE(line[0], '#') << "unexpected comment";
    Sample s;
    std::string error;
    if (!ParseSample(line, &s, &error)) {
      ADD_FAILURE() << error;
      continue;
    }
    Value(s.value);
    std::string family = s.name;
    if (!type_of.count(family)) {
      for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
        if (EndsWith(s.name, suffix)) family = s.name.substr(0, s.name.size() - suffix.size());
      }
      EXPECT_EQ(type_of[family], "histogram") << s.name;
    }
    EXPECT_EQ(family, current) << "a sample outside its family's block, or before its TYPE";
    EXPECT_TRUE(helped.count(family)) << "no HELP for " << family;
    EXPECT_EQ(s.Label("le") != "<none>", EndsWith(s.name, "_bucket")) << "le only on buckets";
    samples.push_back(std::move(s));
  }
  EXPECT_EQ(pending_help, "");

  // Histograms: per series, ascending le ending in +Inf, cumulative counts,
  // +Inf equal to _count, and a _sum.
  struct Series {
    std::vector<std::pair<double, double>> buckets;  // le, count
    bool has_inf = false, has_sum = false, has_count = false;
    double inf = -1, count = -2;
  };
  std::map<std::string, Series> series;
  for (const Sample& s : samples) {
    std::string family = s.name;
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (EndsWith(s.name, suffix) && type_of.count(s.name.substr(0, s.name.size() - suffix.size()))) {
        family = s.name.substr(0, s.name.size() - suffix.size());
      }
    }
    if (type_of[family] != "histogram") continue;
    Series& h = series[family + "|" + s.SeriesKey()];
    if (EndsWith(s.name, "_bucket")) {
      EXPECT_FALSE(h.has_inf) << "a bucket after +Inf: " << s.name;
      const std::string le = s.Label("le");
      if (le == "+Inf") {
        h.has_inf = true;
        h.inf = Value(s.value);
      } else {
        if (!h.buckets.empty()) {
          EXPECT_LT(h.buckets.back().first, Value(le)) << s.name;
          EXPECT_LE(h.buckets.back().second, Value(s.value)) << s.name;
        }
        h.buckets.emplace_back(Value(le), Value(s.value));
      }
    } else if (EndsWith(s.name, "_sum")) {
      h.has_sum = true;
    } else {
      h.has_count = true;
      h.count = Value(s.value);
    }
  }
  for (const auto& [key, h] : series) {
    SCOPED_TRACE(key);
    EXPECT_TRUE(h.has_inf);
    EXPECT_TRUE(h.has_sum);
    EXPECT_TRUE(h.has_count);
    EXPECT_EQ(h.inf, h.count);
    if (!h.buckets.empty()) {
      EXPECT_LE(h.buckets.back().second, h.inf);
    }
  }
  return samples;
}

std::set<std::string> Families(const std::string& text) {
  std::set<std::string> out;
  for (const std::string& line : Lines(text)) {
    if (line.starts_with("# TYPE ")) out.insert(line.substr(7, line.find(' ', 7) - 7));
  }
  return out;
}

bool HasLine(const std::string& text, const std::string& line) {
  for (const std::string& l : Lines(text)) {
    if (l == line) return true;
  }
  return false;
}

// ------------------------------------------------------------- Prometheus

// One task, one model, with counts chosen to print exactly.
class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = reg_.AddModel("svm", "1");
    placed_ = reg_.AddPlacement("cpu", "svm", "1");
    placed_->replicas = 2;
    placed_->share = 0.5;
    DeviceStats* gpu = reg_.AddDevice("gpu0", "gpu");
    gpu->capacity = 1;
    gpu->memory_mib = 1024;
    gpu->reserved_mib = 512;
    gpu->up = false;
    reg_.AddDevice("cpu", "cpu");
    reg_.AddDevice("old", "cpu")->in_house = false;  // left the house: no series
    model_->batches = 2;
    model_->items = 5;
    model_->late_drops = 1;
    model_->batch_size.Observe(2);
    model_->batch_size.Observe(3);
    model_->service_time.Observe(0.25);
    model_->service_time.Observe(0.5);
    placed_->busy_seconds = 0.75;
    model_->queue_wait.Observe(0);
    task_ = reg_.Task("a", "", Names({"svm", "bayes"}));
    task_->Record(Answered(0, "svm", Reason::kNone, 250,
                           {Att("svm", 0, AttemptState::kSucceeded), Att("bayes", 1, AttemptState::kCancelled)}),
                  AtSeconds(1));
    task_->Record(Answered(1, "bayes", Reason::kPredictedLate, 2000,
                           {Att("svm", 0, AttemptState::kSkipped), Att("bayes", 1, AttemptState::kSucceeded)}),
                  AtSeconds(2));
    task_->Record(NoAnswer(Reason::kInfeasible, 0,
                           {Att("svm", 0, AttemptState::kSkipped), Att("bayes", 1, AttemptState::kSkipped)}),
                  AtSeconds(3));
    ctx_.now = AtSeconds(10);
    ctx_.uptime_s = 12.5;
    ctx_.pending_tries = 4;
    ctx_.core_lag = Duration(3500);
  }

  std::string Write() const {
    std::string out;
    WritePrometheus(reg_, ctx_, out);
    return out;
  }

  StatsRegistry reg_;
  ModelStats* model_ = nullptr;
  PlacementStats* placed_ = nullptr;
  TaskStats* task_ = nullptr;
  ReportContext ctx_;
};

TEST_F(PrometheusTest, EveryFamilyHasHelpAndTypeAndFollowsTheNamingRules) {
  const std::string text = Write();
  CheckExposition(text);
  const std::set<std::string> want = {
      "tbms_tries_total", "tbms_answers_total", "tbms_downgrades_total", "tbms_no_answer_total",
      "tbms_extra_attempts_total", "tbms_try_duration_seconds", "tbms_top_budget_use_ratio", "tbms_batches_total",
      "tbms_batch_items_total", "tbms_late_drops_total", "tbms_backend_errors_total", "tbms_skipped_items_total",
      "tbms_queue_wait_seconds", "tbms_batch_size", "tbms_service_time_seconds",
      "tbms_device_busy_seconds_total", "tbms_model_max_batch_size", "tbms_model_max_queue_delay_seconds",
      "tbms_model_replicas", "tbms_device_share_ratio", "tbms_device_capacity", "tbms_device_up",
      "tbms_device_memory_bytes", "tbms_device_memory_reserved_bytes", "tbms_device_gpu_utilization_ratio",
      "tbms_device_gpu_memory_used_bytes", "tbms_device_gpu_memory_total_bytes", "tbms_pending_tries",
      "tbms_core_lag_seconds", "tbms_uptime_seconds"};
  EXPECT_EQ(Families(text), want);
  EXPECT_TRUE(HasLine(text, "# TYPE tbms_try_duration_seconds histogram"));
  EXPECT_TRUE(HasLine(text, "# TYPE tbms_tries_total counter"));
  EXPECT_TRUE(HasLine(text, "# TYPE tbms_pending_tries gauge"));
  EXPECT_TRUE(HasLine(text, "# TYPE tbms_model_replicas gauge"));
}

TEST_F(PrometheusTest, ExactSampleLines) {
  const std::string text = Write();
  const char* want[] = {
      R"(tbms_tries_total{instance="a",task="svm>bayes"} 3)",
      R"(tbms_answers_total{instance="a",task="svm>bayes",model="svm",rank="0"} 1)",
      R"(tbms_answers_total{instance="a",task="svm>bayes",model="bayes",rank="1"} 1)",
      R"(tbms_downgrades_total{instance="a",task="svm>bayes",reason="predicted_late"} 1)",
      R"(tbms_downgrades_total{instance="a",task="svm>bayes",reason="deadline"} 0)",
      R"(tbms_no_answer_total{instance="a",task="svm>bayes",reason="infeasible"} 1)",
      R"(tbms_no_answer_total{instance="a",task="svm>bayes",reason="deadline"} 0)",
      R"(tbms_extra_attempts_total{instance="a",task="svm>bayes"} 1)",
      R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="0.0001"} 1)",
      R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="0.25"} 2)",
      R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="1"} 2)",
      R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="2.5"} 3)",
      R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="30"} 3)",
      R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="+Inf"} 3)",
      R"(tbms_try_duration_seconds_sum{instance="a",task="svm>bayes"} 2.25)",
      R"(tbms_try_duration_seconds_count{instance="a",task="svm>bayes"} 3)",
      R"(tbms_batches_total{model="svm",version="1"} 2)",
      R"(tbms_batch_items_total{model="svm",version="1"} 5)",
      R"(tbms_late_drops_total{model="svm",version="1"} 1)",
      R"(tbms_backend_errors_total{model="svm",version="1"} 0)",
      R"(tbms_batch_size_bucket{model="svm",version="1",le="1"} 0)",
      R"(tbms_batch_size_bucket{model="svm",version="1",le="2"} 1)",
      R"(tbms_batch_size_bucket{model="svm",version="1",le="4"} 2)",
      R"(tbms_batch_size_bucket{model="svm",version="1",le="1024"} 2)",
      R"(tbms_batch_size_bucket{model="svm",version="1",le="+Inf"} 2)",
      R"(tbms_batch_size_sum{model="svm",version="1"} 5)",
      R"(tbms_batch_size_count{model="svm",version="1"} 2)",
      R"(tbms_service_time_seconds_bucket{model="svm",version="1",le="0.25"} 1)",
      R"(tbms_service_time_seconds_bucket{model="svm",version="1",le="0.5"} 2)",
      R"(tbms_service_time_seconds_sum{model="svm",version="1"} 0.75)",
      R"(tbms_service_time_seconds_count{model="svm",version="1"} 2)",
      R"(tbms_queue_wait_seconds_bucket{model="svm",version="1",le="0.0001"} 1)",
      R"(tbms_queue_wait_seconds_sum{model="svm",version="1"} 0)",
      R"(tbms_queue_wait_seconds_count{model="svm",version="1"} 1)",
      R"(tbms_device_busy_seconds_total{device="cpu",model="svm"} 0.75)",
      R"(tbms_model_replicas{device="cpu",model="svm"} 2)",
      R"(tbms_device_share_ratio{device="cpu",model="svm"} 0.5)",
      R"(tbms_device_capacity{device="gpu0",kind="gpu"} 1)",
      R"(tbms_device_capacity{device="cpu",kind="cpu"} 0)",
      R"(tbms_device_up{device="gpu0"} 0)",
      R"(tbms_device_up{device="cpu"} 1)",
      R"(tbms_device_memory_bytes{device="gpu0"} 1073741824)",
      R"(tbms_device_memory_reserved_bytes{device="gpu0"} 536870912)",
      R"(tbms_pending_tries 4)",
      R"(tbms_uptime_seconds 12.5)",
  };
  for (const char* line : want) EXPECT_TRUE(HasLine(text, line)) << line << "\nin\n" << text;
  // One sample per reason for each of downgrades and no-answers.
  const auto samples = CheckExposition(text);
  int downgrades = 0, no_answer = 0, answers = 0, buckets = 0;
  for (const Sample& s : samples) {
    downgrades += s.name == "tbms_downgrades_total";
    no_answer += s.name == "tbms_no_answer_total";
    answers += s.name == "tbms_answers_total";
    buckets += s.name == "tbms_try_duration_seconds_bucket";
  }
  EXPECT_EQ(downgrades, static_cast<int>(std::size(kReasons)));  // every reason but none
  EXPECT_EQ(no_answer, static_cast<int>(std::size(kReasons)));
  EXPECT_EQ(answers, 2);
  EXPECT_EQ(buckets, static_cast<int>(Histogram::LatencyBounds().size()) + 1);
}

TEST_F(PrometheusTest, EmptyRegistryStillDescribesEveryFamily) {
  StatsRegistry empty;
  std::string text;
  WritePrometheus(empty, ctx_, text);
  CheckExposition(text);
  EXPECT_EQ(Families(text).size(), 30u);
  EXPECT_TRUE(HasLine(text, "tbms_pending_tries 4"));
  EXPECT_TRUE(HasLine(text, "tbms_core_lag_seconds 0.0035"));
  for (const std::string& line : Lines(text)) {
    if (line.starts_with("#")) continue;
    EXPECT_TRUE(line.starts_with("tbms_pending") || line.starts_with("tbms_core_lag") ||
                line.starts_with("tbms_uptime"))
        << line;
  }
}

TEST(PrometheusEscapingTest, LabelValuesAreEscaped) {
  const std::string instance = "q\"b\\s\nn";  // q"b\s<newline>n
  const std::string model = "m\"1\\";
  StatsRegistry reg;
  reg.AddModel(model, "v\n2");
  reg.AddPlacement("gpu\"0", model, "v\n2")->replicas = 1;
  TaskStats* t = reg.Task(instance, "", Names({model, "svm"}));
  t->Record(Answered(0, model, Reason::kNone, 1), AtSeconds(1));
  ReportContext ctx;
  ctx.now = AtSeconds(2);
  std::string text;
  WritePrometheus(reg, ctx, text);
  EXPECT_TRUE(HasLine(text, R"(tbms_tries_total{instance="q\"b\\s\nn",task="m\"1\\>svm"} 1)")) << text;
  EXPECT_TRUE(HasLine(
      text, R"(tbms_answers_total{instance="q\"b\\s\nn",task="m\"1\\>svm",model="m\"1\\",rank="0"} 1)"));
  EXPECT_TRUE(HasLine(text, R"(tbms_batches_total{model="m\"1\\",version="v\n2"} 0)"));
  EXPECT_TRUE(HasLine(text, R"(tbms_model_replicas{device="gpu\"0",model="m\"1\\"} 1)"));
  // Every line parses, and the values read back are the originals.
  bool seen = false;
  for (const Sample& s : CheckExposition(text)) {
    if (s.name != "tbms_tries_total") continue;
    seen = true;
    EXPECT_EQ(s.Label("instance"), instance);
    EXPECT_EQ(s.Label("task"), model + ">svm");
  }
  EXPECT_TRUE(seen);
}

// Disabled until prometheus.cc prints numbers in their shortest round-trip
// form: with %.17g, le="0.025" comes out as le="0.025000000000000001", which
// a query on the label (or a dashboard's bucket selector) does not match.
TEST_F(PrometheusTest, BoundsAndValuesPrintShortest) {
  placed_->busy_seconds = 0.09;
  const std::string text = Write();
  EXPECT_TRUE(HasLine(text, R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="0.00025"} 1)"));
  EXPECT_TRUE(HasLine(text, R"(tbms_try_duration_seconds_bucket{instance="a",task="svm>bayes",le="0.025"} 1)"));
  EXPECT_TRUE(HasLine(text, R"(tbms_device_busy_seconds_total{device="cpu",model="svm"} 0.09)"));
  EXPECT_EQ(text.find("0000000"), std::string::npos) << text;
}

// promtool's own linter, when installed (apt-get install prometheus).
TEST_F(PrometheusTest, PromtoolAccepts) {
  if (!std::filesystem::exists("/usr/bin/promtool")) GTEST_SKIP() << "promtool not installed";
  // A second task with awkward label values, to check the escapes too.
  reg_.Task("x\"y\\z\nw", "", Names({"svm"}))->Record(Answered(0, "svm", Reason::kNone, 3), AtSeconds(1));
  const std::string text = Write();
  char path[] = "/tmp/tbms_promtool_XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  const std::string cmd = std::string("/usr/bin/promtool check metrics < ") + path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[512];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) output.append(buf, n);
  const int status = pclose(p);
  std::remove(path);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "");
}

// ------------------------------------------------------------ report JSON

double D(element e) { return e.get_double().value(); }
int64_t I(element e) { return e.get_int64().value(); }
std::string S(element e) { return std::string(e.get_string().value()); }
std::vector<element> A(element e) {
  std::vector<element> out;
  const simdjson::dom::array arr = e.get_array().value();  // not bound in the loop: it would dangle
  for (element x : arr) out.push_back(x);
  return out;
}

// Two tasks and three models on a context 25 min (and a half second) into the
// engine clock, with the wall clock at 1700000000.5: engine second s is Unix
// second 1699998500 + s.
// The offset that maps the context's engine clock to its wall clock.
Duration WallOffset(const ReportContext& ctx) {
  return std::chrono::duration_cast<Duration>(ctx.wall.time_since_epoch()) - ctx.now.time_since_epoch();
}

class ReportJsonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    embedding_ = reg_.AddModel("embedding", "1");
    svm_ = reg_.AddModel("svm", "1");
    reg_.AddModel("bayes", "1");
    embedding_gpu_ = reg_.AddPlacement("gpu0", "embedding", "1");
    embedding_gpu_->replicas = 2;
    svm_cpu_ = reg_.AddPlacement("cpu", "svm", "1");
    svm_cpu_->replicas = 1;
    reg_.AddPlacement("cpu", "bayes", "1")->replicas = 1;
    DeviceStats* gpu = reg_.AddDevice("gpu0", "gpu");
    gpu->capacity = 1;  // a declared GPU: its replicas share its time
    gpu->memory_mib = 80 * 1024;
    reg_.AddDevice("cpu", "cpu");  // undeclared: as many as the replicas on it

    TaskStats* a = reg_.Task("a", "", Names({"embedding", "svm"}));
    a->Record(Answered(0, "embedding", Reason::kNone, 10,
                       {Att("embedding", 0, AttemptState::kSucceeded), Att("svm", 1, AttemptState::kCancelled)}),
              AtSeconds(100));  // window 0
    a->Record(Answered(0, "embedding", Reason::kNone, 30, {Att("embedding", 0, AttemptState::kSucceeded)}),
              AtSeconds(700));  // window 1
    a->Record(Answered(1, "svm", Reason::kDeadline, 50,
                       {Att("embedding", 0, AttemptState::kCancelled), Att("svm", 1, AttemptState::kSucceeded)}),
              AtSeconds(1497.3));  // window 2
    a->Record(NoAnswer(Reason::kInfeasible, 0,
                       {Att("embedding", 0, AttemptState::kSkipped), Att("svm", 1, AttemptState::kSkipped)}),
              AtSeconds(1497.6));
    TaskStats* b = reg_.Task("b", "", Names({"svm"}));
    b->Record(Answered(0, "svm", Reason::kNone, 20), AtSeconds(1499.5));
    b->Record(Answered(0, "svm", Reason::kNone, 40), AtSeconds(1500.2));  // the current second

    embedding_gpu_->busy.Add(AtSeconds(1450.2), 1, 3.0);
    embedding_gpu_->busy.Add(AtSeconds(1499.9), 1, 3.0);
    embedding_gpu_->busy.Add(AtSeconds(1430), 1, 100);    // over a minute ago
    embedding_gpu_->busy.Add(AtSeconds(1500.1), 1, 100);  // the current second
    svm_cpu_->busy.Add(AtSeconds(1460), 1, 45);           // more than it can hold: capped
    embedding_->batches = 3;
    embedding_->items = 7;
    embedding_->late_drops = 1;
    embedding_->errors = 2;
    for (int i = 0; i < 2; ++i) {  // as the batcher records a batch
      embedding_->service_time.Observe(0.02);
      embedding_->service_fine.Observe(0.02);
    }
    embedding_->batch_size.Observe(2);
    embedding_->batch_size.Observe(5);

    ctx_.now = AtSeconds(1500.5);
    ctx_.wall = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000) +
                                                      std::chrono::milliseconds(500));
    ctx_.uptime_s = 30;
    ctx_.pending_tries = 2;
    ctx_.core_lag = Millis(1.5);
  }

  element Parse() {
    json_.clear();
    WriteReportJson(reg_, ctx_, json_);
    element root;
    EXPECT_EQ(parser_.parse(json_).get(root), simdjson::SUCCESS) << json_;
    return root;
  }

  StatsRegistry reg_{256, std::chrono::seconds(1'699'998'500)};  // engine + offset = wall (see ctx_)
  ModelStats* embedding_ = nullptr;
  ModelStats* svm_ = nullptr;
  PlacementStats* embedding_gpu_ = nullptr;
  PlacementStats* svm_cpu_ = nullptr;
  ReportContext ctx_;
  std::string json_;
  simdjson::dom::parser parser_;
};

TEST_F(ReportJsonTest, Header) {
  element r = Parse();
  EXPECT_EQ(S(r["now"]), "2023-11-14T22:13:20Z");
  EXPECT_EQ(D(r["uptime_s"]), 30);
  EXPECT_EQ(I(r["pending_tries"]), 2);
  EXPECT_EQ(D(r["core_lag_ms"]), 1.5);
}

TEST_F(ReportJsonTest, DowngradeSharesReasonsAndExtraAttempts) {
  element r = Parse();
  const auto tasks = A(r["downgrade"]);
  ASSERT_EQ(tasks.size(), 2u);
  element a = tasks[0];
  EXPECT_EQ(S(a["instance"]), "a");
  EXPECT_EQ(S(a["task"]), "embedding>svm");
  EXPECT_EQ(I(a["tries"]), 4);
  const auto answered = A(a["answered"]);
  ASSERT_EQ(answered.size(), 2u);
  EXPECT_EQ(S(answered[0]["model"]), "embedding");
  EXPECT_EQ(I(answered[0]["rank"]), 0);
  EXPECT_EQ(I(answered[0]["count"]), 2);
  EXPECT_DOUBLE_EQ(D(answered[0]["pct"]), 50);
  EXPECT_EQ(S(answered[1]["model"]), "svm");
  EXPECT_EQ(I(answered[1]["rank"]), 1);
  EXPECT_EQ(I(answered[1]["count"]), 1);
  EXPECT_DOUBLE_EQ(D(answered[1]["pct"]), 25);
  EXPECT_EQ(I(a["no_answer"]["count"]), 1);
  EXPECT_DOUBLE_EQ(D(a["no_answer"]["pct"]), 25);
  element reasons = a["reasons"];
  EXPECT_EQ(I(reasons["predicted_late"]), 0);
  EXPECT_EQ(I(reasons["error"]), 0);
  EXPECT_EQ(I(reasons["dropped_late"]), 0);
  EXPECT_EQ(I(reasons["deadline"]), 1);    // a downgrade
  EXPECT_EQ(I(reasons["infeasible"]), 1);  // a no-answer
  EXPECT_EQ(reasons.get_object().value().size(), std::size(kReasons));
  EXPECT_EQ(I(a["extra_attempts"]), 2);  // a hedge in the first try and in the third

  element b = tasks[1];
  EXPECT_EQ(S(b["instance"]), "b");
  EXPECT_EQ(S(b["task"]), "svm");
  EXPECT_EQ(I(b["tries"]), 2);
  ASSERT_EQ(A(b["answered"]).size(), 1u);
  EXPECT_DOUBLE_EQ(D(A(b["answered"])[0]["pct"]), 100);
  EXPECT_EQ(I(b["no_answer"]["count"]), 0);
  EXPECT_DOUBLE_EQ(D(b["no_answer"]["pct"]), 0);
}

TEST_F(ReportJsonTest, PercentagesOfThirds) {
  TaskStats* c = reg_.Task("c", "", Names({"svm", "bayes"}));
  c->Record(Answered(0, "svm", Reason::kNone, 1), AtSeconds(1));
  c->Record(Answered(1, "bayes", Reason::kPredictedLate, 1), AtSeconds(1));
  c->Record(NoAnswer(Reason::kError, 1), AtSeconds(1));
  element r = Parse();
  element t = A(r["downgrade"])[2];
  ASSERT_EQ(S(t["instance"]), "c");
  EXPECT_NEAR(D(A(t["answered"])[0]["pct"]), 100.0 / 3, 0.001);
  EXPECT_NEAR(D(A(t["answered"])[1]["pct"]), 100.0 / 3, 0.001);
  EXPECT_NEAR(D(t["no_answer"]["pct"]), 100.0 / 3, 0.001);
  EXPECT_EQ(I(t["reasons"]["predicted_late"]), 1);
  EXPECT_EQ(I(t["reasons"]["error"]), 1);
}

TEST_F(ReportJsonTest, LagWindowsNewestFirstOnTheWallClock) {
  element r = Parse();
  const auto lag = A(r["lag"]);
  ASSERT_EQ(lag.size(), 2u);
  EXPECT_EQ(S(lag[0]["instance"]), "a");
  EXPECT_EQ(S(lag[0]["task"]), "embedding>svm");
  const auto windows = A(lag[0]["windows"]);
  ASSERT_EQ(windows.size(), 3u);
  // Windows align to the wall clock: engine second 1497.3 is Unix
  // 1699999997.3, in the window that starts at 1699999800 (22:10:00).
  EXPECT_EQ(S(windows[0]["start"]), "2023-11-14T22:10:00Z");
  EXPECT_EQ(I(windows[0]["count"]), 2);
  EXPECT_NEAR(D(windows[0]["avg_ms"]), 25, 0.001);
  EXPECT_EQ(S(windows[1]["start"]), "2023-11-14T22:00:00Z");
  EXPECT_EQ(I(windows[1]["count"]), 1);
  EXPECT_NEAR(D(windows[1]["avg_ms"]), 30, 0.001);
  EXPECT_EQ(S(windows[2]["start"]), "2023-11-14T21:50:00Z");
  EXPECT_EQ(I(windows[2]["count"]), 1);
  EXPECT_NEAR(D(windows[2]["avg_ms"]), 10, 0.001);
  // One lag of 10 ms: its quantiles are interpolated inside a fine (3%) bucket.
  EXPECT_NEAR(D(windows[2]["p50_ms"]), 10, 0.3);
  EXPECT_NEAR(D(windows[2]["p99_ms"]), 10, 0.3);
  EXPECT_LE(D(windows[2]["p50_ms"]), D(windows[2]["p99_ms"]));
  // Its histogram, for clients that merge servers: the one non-empty bucket, le in ms.
  const auto buckets = A(windows[2]["buckets"]);
  ASSERT_EQ(buckets.size(), 1u);
  const auto bucket = A(buckets[0]);
  ASSERT_EQ(bucket.size(), 2u);
  EXPECT_GE(D(bucket[0]), 10);
  EXPECT_LE(D(bucket[0]), 10.3);
  EXPECT_EQ(I(bucket[1]), 1);

  const auto b = A(lag[1]["windows"]);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(S(b[0]["start"]), "2023-11-14T22:10:00Z");
  EXPECT_EQ(I(b[0]["count"]), 2);
  EXPECT_NEAR(D(b[0]["avg_ms"]), 30, 0.001);
}

TEST_F(ReportJsonTest, WindowsOlderThanAnHourAreLeftOut) {
  ctx_.now = AtSeconds(75 * 60);  // Unix 1700000000.5, in the window of 22:10:00
  StatsRegistry reg(256, WallOffset(ctx_));
  TaskStats* t = reg.Task("a", "", Names({"svm"}));
  t->Record(Answered(0, "svm", Reason::kNone, 1), AtSeconds(15 * 60));  // 21:30 window: too old
  t->Record(Answered(0, "svm", Reason::kNone, 2), AtSeconds(45 * 60));  // 21:40 window
  std::string out;
  WriteReportJson(reg, ctx_, out);
  element r;
  ASSERT_EQ(parser_.parse(out).get(r), simdjson::SUCCESS);
  const auto windows = A(A(r["lag"])[0]["windows"]);
  ASSERT_EQ(windows.size(), 1u);
  EXPECT_EQ(I(windows[0]["count"]), 1);
  EXPECT_NEAR(D(windows[0]["avg_ms"]), 2, 0.001);
  EXPECT_EQ(S(windows[0]["start"]), "2023-11-14T21:40:00Z");
}

TEST_F(ReportJsonTest, OccupancyIsBusyOverTheLastMinuteOrUptimePerReplica) {
  element r = Parse();
  const auto occ = A(r["occupancy"]);
  ASSERT_EQ(occ.size(), 3u);
  EXPECT_EQ(S(occ[0]["device"]), "gpu0");
  EXPECT_EQ(S(occ[0]["model"]), "embedding");
  EXPECT_EQ(I(occ[0]["replicas"]), 2);
  EXPECT_EQ(occ[0]["instances"].error(), simdjson::NO_SUCH_FIELD);  // the key's old name
  // 6 busy seconds in the last complete minute, over 30 s of uptime, 2 replicas.
  EXPECT_NEAR(D(occ[0]["pct"]), 10, 0.001);
  EXPECT_EQ(S(occ[1]["model"]), "svm");
  EXPECT_EQ(S(occ[1]["device"]), "cpu");
  EXPECT_NEAR(D(occ[1]["pct"]), 100, 0.001);  // 45 s in 30 s: capped
  EXPECT_EQ(S(occ[2]["model"]), "bayes");
  EXPECT_EQ(D(occ[2]["pct"]), 0);

  ctx_.uptime_s = 100;  // a full minute: 6 / (60 * 2)
  r = Parse();
  EXPECT_NEAR(D(A(r["occupancy"])[0]["pct"]), 5, 0.001);
  EXPECT_NEAR(D(A(r["occupancy"])[1]["pct"]), 75, 0.001);
  ctx_.uptime_s = 0.2;  // under a second counts as one
  r = Parse();
  EXPECT_NEAR(D(A(r["occupancy"])[0]["pct"]), 100, 0.001);
}

// The talk's table: each model's part of its device, and what is free. A
// declared GPU holds one replica's time (its two replicas share it); the
// undeclared "cpu" as many as the replicas placed on it (svm's and bayes').
TEST_F(ReportJsonTest, DevicesShowTheirOccupancyAndWhatIsFree) {
  ctx_.uptime_s = 100;
  element r = Parse();
  const auto occ = A(r["occupancy"]);
  EXPECT_NEAR(D(occ[0]["device_pct"]), 10, 0.001);  // 6 s of 60 s on one GPU
  EXPECT_NEAR(D(occ[1]["device_pct"]), 37.5, 0.001);  // 45 s of 2 x 60 s
  EXPECT_EQ(D(occ[2]["device_pct"]), 0);
  const auto devices = A(r["devices"]);
  ASSERT_EQ(devices.size(), 2u);  // by name
  EXPECT_EQ(S(devices[0]["device"]), "cpu");
  EXPECT_EQ(D(devices[0]["capacity"]), 2);
  EXPECT_NEAR(D(devices[0]["occupancy_pct"]), 37.5, 0.001);
  EXPECT_NEAR(D(devices[0]["free_pct"]), 62.5, 0.001);
  EXPECT_EQ(S(devices[1]["device"]), "gpu0");
  EXPECT_EQ(S(devices[1]["kind"]), "gpu");
  EXPECT_EQ(D(devices[1]["capacity"]), 1);
  EXPECT_NEAR(D(devices[1]["free_pct"]), 90, 0.001);
  EXPECT_EQ(I(devices[1]["memory_mib"]), 80 * 1024);
  EXPECT_TRUE(devices[1]["up"].get_bool().value());
}

TEST_F(ReportJsonTest, ModelFigures) {
  element r = Parse();
  const auto models = A(r["models"]);
  ASSERT_EQ(models.size(), 3u);
  element e = models[0];
  EXPECT_EQ(S(e["model"]), "embedding");
  EXPECT_EQ(S(e["version"]), "1");
  EXPECT_EQ(I(e["batches"]), 3);
  EXPECT_EQ(I(e["items"]), 7);
  EXPECT_EQ(I(e["late_drops"]), 1);
  EXPECT_EQ(I(e["errors"]), 2);
  EXPECT_EQ(D(e["queue_wait_p50_ms"]), 0);
  EXPECT_NEAR(D(e["service_p50_ms"]), 20, 0.6);  // two at 20 ms: within a fine bucket
  EXPECT_NEAR(D(e["service_p99_ms"]), 20, 0.6);
  EXPECT_NEAR(D(e["batch_size_avg"]), 3.5, 0.001);
  EXPECT_EQ(I(models[2]["batches"]), 0);
  EXPECT_EQ(D(models[2]["batch_size_avg"]), 0);
}

TEST_F(ReportJsonTest, QpsAndPerSecondSeries) {
  element r = Parse();
  EXPECT_EQ(D(r["qps"]["last_1s"]), 1);  // second 1499; 1500 is still filling
  EXPECT_NEAR(D(r["qps"]["last_60s"]), 3.0 / 30, 0.001);  // 3 tries over 30 s of uptime
  const auto t = A(r["series"]["t"]);
  const auto qps = A(r["series"]["qps"]);
  const auto lag = A(r["series"]["lag_avg_ms"]);
  // The seconds since the server started (at 1470.5): 1470 to 1499.
  ASSERT_EQ(t.size(), 30u);
  ASSERT_EQ(qps.size(), t.size());
  ASSERT_EQ(lag.size(), t.size());
  EXPECT_EQ(I(t.front()), 1699998500 + 1470);
  EXPECT_EQ(I(t.back()), 1699998500 + 1499);
  for (size_t i = 1; i < t.size(); ++i) EXPECT_EQ(I(t[i]), I(t[i - 1]) + 1);
  const size_t n = t.size();
  EXPECT_EQ(D(qps[n - 1]), 1);
  EXPECT_NEAR(D(lag[n - 1]), 20, 0.001);
  EXPECT_EQ(D(qps[n - 2]), 0);
  EXPECT_EQ(D(qps[n - 3]), 2);  // second 1497
  EXPECT_NEAR(D(lag[n - 3]), 25, 0.001);
  double total = 0;
  for (element q : qps) total += D(q);
  EXPECT_EQ(total, 3);
  EXPECT_TRUE(lag[n - 2].is_null());  // no tries: no lag

  ctx_.uptime_s = 1000;  // up long before: all the ring holds, a minute for last_60s
  r = Parse();
  EXPECT_NEAR(D(r["qps"]["last_60s"]), 3.0 / 60, 0.001);
  EXPECT_EQ(A(r["series"]["t"]).size(), static_cast<size_t>(SecondRing::kSeconds - 1));
  EXPECT_EQ(I(A(r["series"]["t"]).back()), 1699998500 + 1499);
}

TEST_F(ReportJsonTest, EscapesNames) {
  reg_.Task("x\"y\\z\nw", "", Names({"svm"}))->Record(Answered(0, "svm", Reason::kNone, 1), AtSeconds(1));
  element r = Parse();
  EXPECT_EQ(S(A(r["downgrade"])[2]["instance"]), "x\"y\\z\nw");
}

TEST(ReportJsonEmptyTest, EmptyRegistry) {
  StatsRegistry reg;
  ReportContext ctx;
  ctx.now = AtSeconds(0.5);
  ctx.uptime_s = 0.5;
  std::string out;
  WriteReportJson(reg, ctx, out);
  simdjson::dom::parser parser;
  element r;
  ASSERT_EQ(parser.parse(out).get(r), simdjson::SUCCESS) << out;
  EXPECT_EQ(D(r["qps"]["last_1s"]), 0);
  EXPECT_EQ(D(r["qps"]["last_60s"]), 0);
  EXPECT_TRUE(A(r["series"]["t"]).empty());
  EXPECT_TRUE(A(r["downgrade"]).empty());
  EXPECT_TRUE(A(r["lag"]).empty());
  EXPECT_TRUE(A(r["occupancy"]).empty());
  EXPECT_TRUE(A(r["models"]).empty());
}

}  // namespace
}  // namespace tbms
