// The engine's model lifecycle: loading a house scan, swapping versions,
// keeping what serves when a reload fails, retiring and sweeping. Traffic
// during reloads is tested end to end (tests/e2e/test_house.py).
#include "tbms/server/engine.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "tbms/backends/gpu_telemetry.h"
#include "tbms/backends/text/text_model.h"
#include "tbms/common/virtual_clock.h"

#include "simulated_model.h"

namespace tbms {
namespace {

using server_test::Simulated;
constexpr HouseError::Source kInInstances = HouseError::Source::kInstances;

HouseScan Scan(std::vector<ModelConfig> models, std::vector<HouseError> errors = {}) {
  HouseScan scan;
  scan.config.models = std::move(models);
  scan.errors = std::move(errors);
  return scan;
}

class EngineTest : public ::testing::Test {
 protected:
  EngineTest() : engine_(std::move(Engine::Create(Logging(&log_), &clock_, &core_)).value()) {}
  static Engine::Options Logging(std::vector<std::string>* log) {
    Engine::Options options;
    options.log = [log](const std::string& line) { log->push_back(line); };
    return options;
  }

  std::vector<std::string> Versions(const std::string& model) {
    std::vector<std::string> out;
    const ServedModel* m = engine_->table()->Find(model);
    for (const auto& v : m ? m->versions : std::vector<std::shared_ptr<ModelVersion>>{}) out.push_back(v->version);
    return out;
  }
  std::string State(const std::string& model, const std::string& version) {
    for (const ModelState& s : engine_->states()) {
      if (s.name == model && s.version == version) return s.state + (s.reason.empty() ? "" : ": " + s.reason);
    }
    return "none";
  }

  // A try of svm then bayes (tloc 50 ms), with svm's device drained: bayes
  // answers, launched at once.
  void ExpectSvmFallsBackToBayesAtOnce() {
    TryRequest request;
    ASSERT_TRUE(engine_->table()->AddCandidate("svm", {}, std::nullopt, &request).ok());
    ASSERT_TRUE(engine_->table()->AddCandidate("bayes", {}, std::nullopt, &request).ok());
    request.inputs = std::make_shared<const Inputs>("a question");
    request.tloc = Millis(50);
    request.owner = engine_->table();
    std::optional<TryResult> result;
    ASSERT_TRUE(engine_->Submit("inst", "", std::move(request), [&](TryResult r) { result = std::move(r); }).ok());
    clock_.Advance(Millis(5));
    ASSERT_TRUE(result && result->answer.has_value());
    EXPECT_EQ(result->model, "bayes");
    EXPECT_EQ(result->attempts[1].started, Duration(0));  // at once
  }

  VirtualClock clock_;
  CoreRunner core_;
  std::vector<std::string> log_;  // the model lifecycle's lines
  std::unique_ptr<Engine> engine_;
};

TEST_F(EngineTest, LoadsVersionsAndReusesUnchangedOnes) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"1"});
  EXPECT_EQ(State("svm", "1"), "READY");
  const ModelVersion* v1 = engine_->table()->Find("svm")->versions[0].get();

  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1, 2})}), {}, false).ok());
  EXPECT_EQ(Versions("svm"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(engine_->table()->Find("svm")->versions[0].get(), v1);  // unchanged: not reloaded
  EXPECT_FALSE(engine_->has_retired());

  // model.toml changed: every version reloads, the old ones retire.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {2}, /*fingerprint=*/7)}), {}, false).ok());
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"2"});
  EXPECT_TRUE(engine_->has_retired());
  engine_->Sweep();  // nothing refers to them and they are idle
  EXPECT_FALSE(engine_->has_retired());
}

// [warmup]: a version's batches of each size are run before it serves, and
// its first tries are planned on their times, not on the callers' est.
TEST_F(EngineTest, AWarmedUpVersionServesOnItsOwnTimes) {
  ModelConfig svm = Simulated("svm", {1});
  svm.versions[0].simulated.per_item = Millis(1);  // a batch of b: 5 + b ms
  svm.versions[0].simulated.failure_rate = 1;      // for tries, not for the warm-up
  svm.batching.max_batch_size = 2;
  svm.warmup.count = 8;
  ASSERT_TRUE(engine_->Apply(Scan({svm, Simulated("keysearch", {1})}), {}, false).ok());

  auto estimate = [&](const std::string& model, int batch) {
    return engine_->table()->Find(model)->versions[0]->batcher->service_times().Estimate(batch, Millis(10),
                                                                                       clock_.Now());
  };
  for (int b = 1; b <= 2; ++b) {
    EXPECT_FALSE(estimate("svm", b).guessed) << b;
    EXPECT_EQ(estimate("svm", b).expected, Millis(5 + b)) << b;
  }
  EXPECT_TRUE(estimate("keysearch", 1).guessed);  // no [warmup]: the est until it has run
  clock_.Advance(std::chrono::minutes(5));  // a readiness gate that opens late: its warm-up still plans
  EXPECT_EQ(estimate("svm", 2).expected, Millis(7));
  // The time the load took is the loader's wall time, whatever it is.
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& line) {
    return line.starts_with("loaded model 'svm' version 1, warmed up on 18 batches (sizes 1-2) in ") &&
           line.ends_with(" s");
  })) << ::testing::PrintToString(log_);
}

// A large max_batch is warmed by the sizes its service times keep (a
// window of each batch-size class), not every size: its cost stays bounded.
TEST_F(EngineTest, ALargeMaxBatchWarmsUpAWindowOfEachClass) {
  ModelConfig svm = Simulated("svm", {1});
  svm.versions[0].simulated.per_item = Millis(1);  // a batch of b: 5 + b ms
  svm.batching.max_batch_size = 64;
  svm.warmup.count = 8;
  ASSERT_TRUE(engine_->Apply(Scan({svm}), {}, false).ok());
  const ServiceTimeModel& times = engine_->table()->Find("svm")->versions[0]->batcher->service_times();
  const LatencyEstimate unrun = times.Estimate(35, Millis(10), clock_.Now());  // between two sizes run
  EXPECT_FALSE(unrun.guessed);
  EXPECT_NEAR(ToMillis(unrun.expected), 5 + 35, 1);
  EXPECT_TRUE(std::any_of(log_.begin(), log_.end(), [](const std::string& line) {
    return line.starts_with("loaded model 'svm' version 1, warmed up on 432 batches (48 sizes from 1 to 64) in ");
  })) << ::testing::PrintToString(log_);
}

TEST_F(EngineTest, AFailedReloadLeavesTheOldVersionServing) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  ModelConfig broken = Simulated("svm", {});
  Status s = engine_->Apply(
      Scan({}, {{"svm", 2, "house/svm/2/simulated.toml:1:1: unknown key 'bse_ms'"},
                {"svm", 0, "house/svm: no loadable version"}}),
      {}, true);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"1"});
  EXPECT_EQ(State("svm", "2"), "UNAVAILABLE: house/svm/2/simulated.toml:1:1: unknown key 'bse_ms'");
  EXPECT_EQ(State("svm", "1"), "READY: the reload failed; serving what was loaded before");
}

// A version that served and whose files then break keeps serving as loaded.
TEST_F(EngineTest, AVersionWhoseReloadFailsKeepsServing) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1, 2})}), {}, false).ok());
  const ModelVersion* v2 = engine_->table()->Find("svm")->versions[1].get();
  Status s = engine_->Apply(Scan({Simulated("svm", {1})}, {{"svm", 2, "house/svm/2/simulated.toml:1:11: bad"}}), {}, true);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);  // reported, and yet serving
  EXPECT_EQ(Versions("svm"), (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(engine_->table()->Find("svm")->versions[1].get(), v2);
  EXPECT_EQ(State("svm", "2"),
            "READY: the reload failed (house/svm/2/simulated.toml:1:11: bad); serving what was loaded before");
  EXPECT_EQ(State("svm", "1"), "READY");
}

TEST_F(EngineTest, PollRemovesModelsGoneFromTheHouseExplicitLoadTouchesOneModel) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1}), Simulated("bayes", {1})}), {}, false).ok());
  // Explicit load of bayes: svm's absence from the scan does not matter.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("bayes", {1, 2})}), "bayes", false).ok());
  EXPECT_EQ(Versions("svm"), std::vector<std::string>{"1"});
  EXPECT_EQ(Versions("bayes"), (std::vector<std::string>{"1", "2"}));
  // Poll: svm is gone from the house.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("bayes", {1, 2})}), {}, true).ok());
  EXPECT_EQ(engine_->table()->Find("svm"), nullptr);
  EXPECT_EQ(State("svm", ""), "UNAVAILABLE: unloaded");
}

TEST_F(EngineTest, RetiredVersionsLiveWhileATryHoldsTheirTable) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  std::shared_ptr<const ModelTable> held = engine_->table();  // as a pending try does
  ASSERT_TRUE(engine_->Unload("svm").ok());
  EXPECT_EQ(engine_->table()->Find("svm"), nullptr);
  engine_->Sweep();
  EXPECT_TRUE(engine_->has_retired());
  ASSERT_NE(held->Find("svm")->versions[0]->batcher, nullptr);  // still usable
  held.reset();
  engine_->Sweep();
  EXPECT_FALSE(engine_->has_retired());
  EXPECT_EQ(engine_->Unload("svm").code(), StatusCode::kNotFound);
}

// A retired version still has work in flight: a device drained meanwhile
// takes no batch from it either.
TEST_F(EngineTest, ADrainedDeviceDrainsRetiredVersionsToo) {
  const ReplicaGroup on_gpu0{.count = 1, .device = {.name = "gpu0", .kind = DeviceKind::kGpu, .declared = true}};
  ModelConfig svm = Simulated("svm", {1}), bayes = Simulated("bayes", {1});
  svm.groups = bayes.groups = {on_gpu0};
  ASSERT_TRUE(engine_->Apply(Scan({svm, bayes}), {}, false).ok());
  std::shared_ptr<const ModelTable> held = engine_->table();  // as a pending try does
  ASSERT_TRUE(engine_->Unload("svm").ok());
  ASSERT_TRUE(engine_->models().SetDeviceUp("gpu0", false).ok());
  EXPECT_EQ(held->Find("svm")->versions[0]->batcher->serving_replicas(), 0);
  ASSERT_TRUE(engine_->models().SetDeviceUp("gpu0", true).ok());
  EXPECT_EQ(held->Find("svm")->versions[0]->batcher->serving_replicas(), 1);
}

TEST_F(EngineTest, MixesServeByName) {
  ModelConfig mix;
  mix.name = "mix1";
  mix.backend = kMixBackend;
  mix.members = {"svm", "bayes"};
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1}), Simulated("bayes", {1}), mix}), {}, false).ok());
  const ServedModel* m = engine_->table()->Find("mix1");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(m->is_mix());
  EXPECT_EQ(State("mix1", ""), "READY");
}

// An explicit load of one model leaves the others' states as they were, and
// a mix has one state however often its members load.
TEST_F(EngineTest, LoadingOneModelLeavesTheOthersStatesAlone) {
  ModelConfig mix;
  mix.name = "mix1";
  mix.backend = kMixBackend;
  mix.members = {"svm", "bayes"};
  const HouseScan scan = Scan({Simulated("svm", {1}), Simulated("bayes", {1}), mix});
  ASSERT_TRUE(engine_->Apply(scan, {}, false).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(engine_->Apply(scan, "svm", false).ok());
  EXPECT_EQ(State("bayes", "1"), "READY");
  EXPECT_EQ(State("svm", "1"), "READY");
  const std::vector<ModelState> states = engine_->states();
  EXPECT_EQ(std::count_if(states.begin(), states.end(), [](const ModelState& s) { return s.name == "mix1"; }), 1);
  EXPECT_EQ(State("mix1", ""), "READY");
  EXPECT_EQ(states.size(), 3u) << ::testing::PrintToString(log_);
}


// Hot plug through the engine: the version, its batcher and what it learned
// stay; a try after the change is served by the new replica count.
TEST_F(EngineTest, ReplicasChangeWhileServingWithoutAReload) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  const ModelVersion* v1 = engine_->table()->Find("svm")->versions[0].get();
  v1->batcher->service_times().Observe(1, Millis(7), clock_.Now());
  ASSERT_TRUE(engine_->models().SetReplicas("svm", 3).ok());
  EXPECT_EQ(engine_->table()->Find("svm")->versions[0].get(), v1);
  EXPECT_EQ(v1->batcher->serving_replicas(), 3);
  EXPECT_EQ(v1->executor->replicas(), 3);
  EXPECT_EQ(v1->batcher->service_times().observations(), 1);
  ASSERT_TRUE(engine_->models().SetReplicas("svm", 1).ok());
  EXPECT_EQ(v1->batcher->serving_replicas(), 1);
  EXPECT_EQ(v1->batcher->replicas_in(ReplicaState::kRemoved), 2);  // idle: removed at once
  EXPECT_EQ(engine_->models().SetReplicas("nope", 1).code(), StatusCode::kNotFound);
  EXPECT_EQ(engine_->models().SetReplicas("svm", -1).code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(engine_->has_retired());
}

// [batching] adaptive: the version's batcher gets an online tuner, which
// decides every second on the core's clock, shows its batching in the
// report, and goes with the version when it retires.
TEST_F(EngineTest, AnAdaptiveModelIsTunedWhileItServes) {
  ModelConfig svm = Simulated("svm", {1});
  svm.adaptive_batching = true;
  svm.lag_target = Millis(40);
  svm.batching.max_batch_size = 16;
  ASSERT_TRUE(engine_->Apply(Scan({svm}), {}, false).ok());
  ModelVersion* v1 = engine_->table()->Find("svm")->versions[0].get();
  ASSERT_NE(v1->online, nullptr);
  clock_.Advance(std::chrono::seconds(3));
  EXPECT_EQ(v1->online->decisions(), 3u);
  // Idle, and the model 5 ms at any size: greedy, every batch up to the cap.
  EXPECT_EQ(v1->batcher->batching().max_batch_size, 16);
  EXPECT_EQ(v1->batcher->batching().max_queue_delay, Duration(0));
  // A plain model has none.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1}, /*fingerprint=*/9)}), {}, false).ok());
  EXPECT_EQ(engine_->table()->Find("svm")->versions[0]->online, nullptr);
  engine_->Sweep();  // the adaptive version retires: its tuner's timer is cancelled on the core
  EXPECT_FALSE(engine_->has_retired());
  clock_.Advance(std::chrono::seconds(3));  // nothing fires into what was freed
}

// A try goes through the core runner and is answered on the virtual clock.
// Hot plug of a device: its replicas take no batch while it is drained, so
// a try falls back at once to a model elsewhere; a version loaded meanwhile
// (a reload) starts drained there, with the replaced version's learned
// service times; resumed, it serves again.
TEST_F(EngineTest, ADrainedDeviceSendsTriesToTheNextCandidateAtOnce) {
  ModelConfig svm = Simulated("svm", {1});
  svm.device = "gpu0";
  svm.groups = {{.count = 1, .device = {.name = "gpu0", .kind = DeviceKind::kGpu, .declared = true}}};
  ASSERT_TRUE(engine_->Apply(Scan({svm, Simulated("bayes", {1})}), {}, false).ok());
  const ModelVersion* v1 = engine_->table()->Find("svm")->versions[0].get();
  v1->batcher->service_times().Observe(1, Millis(7), clock_.Now());
  ASSERT_TRUE(engine_->models().SetDeviceUp("gpu0", false).ok());
  EXPECT_EQ(v1->batcher->serving_replicas(), 0);
  EXPECT_EQ(engine_->models().down_devices(), std::vector<std::string>{"gpu0"});

  ExpectSvmFallsBackToBayesAtOnce();

  svm.fingerprint = 2;  // devices.toml changed, say: a reload
  ASSERT_TRUE(engine_->Apply(Scan({svm, Simulated("bayes", {1})}), {}, false).ok());
  const ModelVersion* v1b = engine_->table()->Find("svm")->versions[0].get();
  ASSERT_NE(v1b, v1);
  EXPECT_EQ(v1b->batcher->serving_replicas(), 0);              // still drained
  EXPECT_EQ(v1b->batcher->service_times().observations(), 1);  // what v1 learned
  ASSERT_TRUE(engine_->models().SetDeviceUp("gpu0", true).ok());
  EXPECT_EQ(v1b->batcher->serving_replicas(), 1);
  EXPECT_TRUE(engine_->models().down_devices().empty());
  EXPECT_EQ(engine_->models().SetDeviceUp("tpu0", false).code(), StatusCode::kNotFound);
}

// A device an executor saw fail (a GPU error) is drained as an admin's
// drain would: said once, tries fall back at once, the device shows down;
// resumed, it serves again.
TEST_F(EngineTest, AFailedDeviceIsDrainedUntilResumed) {
  ModelConfig svm = Simulated("svm", {1});
  svm.groups = {{.count = 1, .device = {.name = "gpu0", .kind = DeviceKind::kGpu, .declared = true}}};
  ASSERT_TRUE(engine_->Apply(Scan({svm, Simulated("bayes", {1})}), {}, false).ok());
  const ModelVersion* v1 = engine_->table()->Find("svm")->versions[0].get();
  log_.clear();
  engine_->models().DeviceFailed("gpu0", Unavailable("gpu:0: cudaErrorLaunchFailure"));
  engine_->models().DeviceFailed("gpu0", Unavailable("gpu:0: cudaErrorLaunchFailure"));  // the next batch's
  EXPECT_EQ(v1->batcher->serving_replicas(), 0);
  EXPECT_EQ(engine_->models().down_devices(), std::vector<std::string>{"gpu0"});
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0], "device 'gpu0' failed (gpu:0: cudaErrorLaunchFailure): drained, its tries go to their next "
                     "candidates; POST /v1/devices/gpu0/resume once it is fixed");

  ExpectSvmFallsBackToBayesAtOnce();

  ASSERT_TRUE(engine_->models().SetDeviceUp("gpu0", true).ok());
  EXPECT_EQ(v1->batcher->serving_replicas(), 1);
  engine_->models().DeviceFailed("gpu0", Unavailable("gpu:0: again"));  // a failure after the resume is said again
  EXPECT_EQ(v1->batcher->serving_replicas(), 0);
  EXPECT_EQ(log_.size(), 3u);  // failed, back, failed
}

// A device resumed while its failure is being said (the failure heard
// first, its drain not yet applied) stays up: the resume is the later word,
// and the device is not left drained with no failure on record.
TEST(EngineDeviceTest, AResumeWhileAFailureIsBeingSaidWins) {
  VirtualClock clock;
  CoreRunner core;
  std::mutex mu;
  std::condition_variable cv;
  bool saying = false, resumed = false;
  Engine::Options options;
  options.log = [&](const std::string& line) {
    if (line.find("failed") == std::string::npos) return;
    std::unique_lock lock(mu);
    saying = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(10), [&] { return resumed; });
  };
  auto engine = std::move(Engine::Create(options, &clock, &core)).value();
  ModelConfig svm = Simulated("svm", {1});
  svm.groups = {{.count = 1, .device = {.name = "gpu0", .kind = DeviceKind::kGpu, .declared = true}}};
  ASSERT_TRUE(engine->Apply(Scan({svm}), {}, false).ok());
  std::thread replica([&] { engine->models().DeviceFailed("gpu0", Unavailable("gpu:0: cudaErrorLaunchFailure")); });
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return saying; }));
  }
  ASSERT_TRUE(engine->models().SetDeviceUp("gpu0", true).ok());
  {
    std::lock_guard lock(mu);
    resumed = true;
    cv.notify_all();
  }
  replica.join();
  EXPECT_TRUE(engine->models().down_devices().empty());
  EXPECT_EQ(engine->table()->Find("svm")->versions[0]->batcher->serving_replicas(), 1);
}

// The driver's readings (a stand-in NVML: gpu 0 at 37%, 1 of 80 GiB used)
// reach /metrics and /v1/report for each GPU device of the house; a CPU
// device, and a GPU the driver does not know, get none.
TEST_F(EngineTest, GpuReadingsReachTheDeviceMetrics) {
  auto gpus = GpuTelemetry::Load(TBMS_FAKE_NVML);
  ASSERT_TRUE(gpus.ok()) << gpus.status().message();
  ModelConfig svm = Simulated("svm", {1});
  svm.groups = {{.count = 1, .device = {.name = "gpu0", .kind = DeviceKind::kGpu, .declared = true}}};
  ModelConfig bayes = Simulated("bayes", {1});
  bayes.groups = {{.count = 1, .device = {.name = "gpu7", .kind = DeviceKind::kGpu, .declared = true, .gpu_index = 7}}};
  ModelConfig keysearch = Simulated("keysearch", {1});
  keysearch.groups = {{.count = 1, .device = {.name = "cpu0", .kind = DeviceKind::kCpu, .declared = true}}};
  ASSERT_TRUE(engine_->Apply(Scan({svm, bayes, keysearch}), {}, false).ok());

  const std::vector<Status> unread = engine_->SampleGpus(**gpus);
  ASSERT_EQ(unread.size(), 1u);
  EXPECT_EQ(unread[0].code(), StatusCode::kNotFound);
  EXPECT_EQ(unread[0].message().rfind("gpu7: gpu 7: no such GPU", 0), 0u) << unread[0].message();

  std::string metrics;
  WritePrometheus(*engine_->stats(), engine_->ReportNow(), metrics);
  EXPECT_NE(metrics.find("tbms_device_gpu_utilization_ratio{device=\"gpu0\"} 0.37\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("tbms_device_gpu_memory_used_bytes{device=\"gpu0\"} 1073741824\n"), std::string::npos);
  EXPECT_NE(metrics.find("tbms_device_gpu_memory_total_bytes{device=\"gpu0\"} 85899345920\n"), std::string::npos);
  EXPECT_EQ(metrics.find("tbms_device_gpu_utilization_ratio{device=\"gpu7\"}"), std::string::npos);
  EXPECT_EQ(metrics.find("tbms_device_gpu_utilization_ratio{device=\"cpu0\"}"), std::string::npos);

  std::string report;
  WriteReportJson(*engine_->stats(), engine_->ReportNow(), report);
  EXPECT_NE(report.find("\"gpu\":{\"utilization_pct\":37,\"memory_used_bytes\":1073741824,"
                        "\"memory_total_bytes\":85899345920}"),
            std::string::npos)
      << report;
  const size_t gpu7 = report.find("{\"device\":\"gpu7\",\"kind\"", report.find("\"devices\":["));
  ASSERT_NE(gpu7, std::string::npos);
  EXPECT_EQ(report.substr(gpu7, report.find('}', gpu7) - gpu7).find("\"gpu\":"), std::string::npos) << report;
}

TEST_F(EngineTest, ATryIsAnsweredOnTheVirtualClock) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  TryRequest request;
  ASSERT_TRUE(engine_->table()->AddCandidate("svm", {}, std::nullopt, &request).ok());
  request.inputs = std::make_shared<const Inputs>("a question");
  request.tloc = Millis(50);
  request.owner = engine_->table();
  std::optional<TryResult> result;
  ASSERT_TRUE(engine_->Submit("inst", "", std::move(request), [&](TryResult r) { result = std::move(r); }).ok());
  EXPECT_EQ(engine_->pending(), 1u);
  clock_.Advance(Millis(5));  // the simulated model's base
  ASSERT_TRUE(result);
  EXPECT_TRUE(result->answer.has_value());
  EXPECT_EQ(result->model, "svm");
  EXPECT_EQ(engine_->pending(), 0u);
  EXPECT_EQ(result->elapsed, Millis(5));
}

// A model removed from the house: a try that names it skips it, reported
// `unavailable`, and the next candidate answers at once; a name the house
// never had is still NOT_FOUND.
TEST_F(EngineTest, ATryFallsBackPastAModelRemovedFromTheHouse) {
  ModelConfig mix;
  mix.name = "mix1";
  mix.backend = kMixBackend;
  mix.members = {"svm", "bayes"};
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1}), Simulated("bayes", {1}), mix}), {}, false).ok());
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("bayes", {1}), mix}), {}, true).ok());  // rm -rf svm
  EXPECT_EQ(State("mix1", ""), "UNAVAILABLE: member 'svm' is not served");

  TryRequest request;
  const std::shared_ptr<const ModelTable> table = engine_->table();
  ASSERT_TRUE(table->AddCandidate("svm", {}, std::nullopt, &request).ok());
  ASSERT_TRUE(table->AddCandidate("mix1", {}, std::nullopt, &request).ok());
  ASSERT_TRUE(table->AddCandidate("bayes", {}, std::nullopt, &request).ok());
  EXPECT_EQ(table->AddCandidate("never", {}, std::nullopt, &request).code(), StatusCode::kNotFound);
  request.inputs = std::make_shared<const Inputs>("a question");
  request.tloc = Millis(50);
  request.owner = table;
  std::optional<TryResult> result;
  ASSERT_TRUE(engine_->Submit("inst", "", std::move(request), [&](TryResult r) { result = std::move(r); }).ok());
  clock_.Advance(Millis(5));
  ASSERT_TRUE(result);
  ASSERT_TRUE(result->answer.has_value());
  EXPECT_EQ(result->model, "bayes");
  EXPECT_EQ(result->rank, 2);
  EXPECT_EQ(result->reason, Reason::kUnavailable);
  ASSERT_EQ(result->attempts.size(), 3u);
  EXPECT_EQ(result->attempts[0].state, AttemptState::kUnavailable);
  EXPECT_EQ(result->attempts[1].state, AttemptState::kUnavailable);
  EXPECT_EQ(result->attempts[2].state, AttemptState::kSucceeded);
  EXPECT_EQ(result->attempts[2].started, Duration(0));  // at once (rule 5)

  // Back in the house: it serves again.
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1}), Simulated("bayes", {1}), mix}), {}, true).ok());
  EXPECT_EQ(State("mix1", ""), "READY");
  EXPECT_FALSE(engine_->table()->unserved.contains("svm"));
}

AccessKey Key(std::string id, std::string secret, std::string instance) {
  return AccessKey{std::move(id), std::move(secret), std::move(instance)};
}

HouseScan WithInstance(std::vector<AccessKey> keys, std::vector<std::string> models = {}) {
  HouseScan scan = Scan({Simulated("svm", {1})});
  InstanceConfig a;
  a.name = "a";
  a.keys = std::move(keys);
  a.models = std::move(models);
  scan.config.instances.push_back(a);
  return scan;
}

// Security settings never wait for the models: a key deleted from
// instances.toml stops working on the next reload, whether a model the
// instance names is broken or the file itself has an error.
TEST_F(EngineTest, ARemovedKeyStopsWorkingWhateverElseIsBroken) {
  const AccessKey k1 = Key("k1", "secret-one-0123456789", "a"), k2 = Key("k2", "secret-two-0123456789", "a");
  ASSERT_TRUE(engine_->Apply(WithInstance({k1, k2}, {"svm", "bayes"}), {}, true).ok());
  EXPECT_EQ(engine_->table()->access->keys.size(), 2u);

  // k2 deleted while a task names a model in error.
  HouseScan broken_model = WithInstance({k1}, {"svm", "bayes"});
  broken_model.errors = {{"bayes", 0, "house/bayes/model.toml:1:1: bad"},
                         {"", 0, "house/instances.toml:5:11: model 'bayes' has errors", /*names_model=*/true, kInInstances}};
  (void)engine_->Apply(broken_model, {}, true);
  EXPECT_EQ(engine_->table()->access->keys.count("k2"), 0u);
  EXPECT_EQ(engine_->table()->access->keys.count("k1"), 1u);

  // k1 deleted and the allow-list narrowed in a file with an error of its
  // own: removals apply, additions (k3) wait.
  HouseScan broken_file = WithInstance({Key("k3", "secret-three-012345678", "a")}, {"svm"});
  broken_file.errors = {
      {"", 0, "house/instances.toml:3:18: 'max_concurrent' must be in [1, 1000000], not 0", false, kInInstances}};
  (void)engine_->Apply(broken_file, {}, true);
  const HouseAccess& access = *engine_->table()->access;
  EXPECT_TRUE(access.keys.empty());
  ASSERT_EQ(access.instances.size(), 1u);
  EXPECT_EQ(access.instances[0].models, std::vector<std::string>{"svm"});

  // An error of devices.toml's is not one of instances.toml's: k3 comes in.
  HouseScan broken_devices = WithInstance({Key("k3", "secret-three-012345678", "a")}, {"svm"});
  broken_devices.errors = {{"", 0, "house/devices.toml:2:9: 'cores' must be a string", false,
                            HouseError::Source::kDevices}};
  (void)engine_->Apply(broken_devices, {}, true);
  EXPECT_EQ(engine_->table()->access->keys.count("k3"), 1u);

  // A file that is not TOML tells nothing: what served stays.
  HouseScan unreadable = Scan({Simulated("svm", {1})}, {{"", 0, "house/instances.toml:1:1: not TOML", false, kInInstances}});
  unreadable.instances_read = false;
  (void)engine_->Apply(unreadable, {}, true);
  EXPECT_EQ(engine_->table()->access->instances.size(), 1u);
}

// A poll that cannot read the house folder (renamed, unlistable, out of
// file descriptors) knows nothing of it: nothing is retired, no key dropped.
TEST_F(EngineTest, AHouseThatCannotBeReadChangesNothing) {
  const AccessKey k1 = Key("k1", "secret-one-0123456789", "a");
  ASSERT_TRUE(engine_->Apply(WithInstance({k1}, {"svm", "bayes"}), {}, true).ok());
  const HouseScan gone = ScanHouse("/nonexistent/tbms-house");
  ASSERT_FALSE(gone.folder_read);
  const Status applied = engine_->Apply(gone, {}, /*remove_missing=*/true);
  EXPECT_EQ(applied.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(applied.message().find("no such directory (what served before keeps serving)"), std::string::npos)
      << applied.message();
  EXPECT_NE(engine_->table()->Find("svm"), nullptr);
  EXPECT_EQ(engine_->table()->access->keys.count("k1"), 1u);
}

// A question past a model's [limits] is refused before any work, naming
// the model and the bound (a 64 KiB question once cost keysearch a second).
TEST_F(EngineTest, AQuestionPastAModelsLimitsIsRefusedBeforeAnyWork) {
  ModelConfig svm = Simulated("svm", {1});
  svm.input_limits = {.max_question_bytes = 64, .max_terms = 3};
  ASSERT_TRUE(engine_->Apply(Scan({svm}), {}, false).ok());
  auto submit = [&](std::string question) {
    TryRequest request;
    EXPECT_TRUE(engine_->table()->AddCandidate("svm", {}, std::nullopt, &request).ok());
    request.inputs = std::make_shared<const Inputs>(std::move(question));
    request.tloc = Millis(50);
    request.owner = engine_->table();
    return engine_->Submit("inst", "", std::move(request), [](TryResult) {});
  };
  const Status words = submit("one, two; three four");
  EXPECT_EQ(words.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(words.message(),
            "model 'svm': the question has 4 words, the model takes at most 3 (limits.max_terms in its model.toml)");
  EXPECT_EQ(submit(std::string(65, 'x')).message(),
            "model 'svm': the question has 65 bytes, the model takes at most 64 "
            "(limits.max_question_bytes in its model.toml)");
  EXPECT_TRUE(submit("one two three").ok());
  EXPECT_EQ(engine_->pending(), 1u);  // only the one it took
  clock_.Advance(Millis(5));
}

// Each load, retirement and release is logged once, and so is each failure
// with its own file:line:column reason (not only its dependants').
TEST(EngineLogTest, LogsTheLifecycleAndEachFailureOnce) {
  VirtualClock clock;
  CoreRunner core;
  std::vector<std::string> log;
  Engine::Options options;
  options.log = [&](const std::string& line) { log.push_back(line); };
  auto engine = std::move(Engine::Create(options, &clock, &core)).value();
  ASSERT_TRUE(engine->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  EXPECT_EQ(log, std::vector<std::string>{"loaded model 'svm' version 1"});
  log.clear();
  const HouseScan broken = Scan({}, {{"svm", 0, "house/svm/model.toml:2:7: 'est' must be a number"}});
  (void)engine->Apply(broken, {}, true);
  (void)engine->Apply(broken, {}, true);  // the same failure again: not logged again
  EXPECT_EQ(log, (std::vector<std::string>{
                     "model 'svm' UNAVAILABLE: house/svm/model.toml:2:7: 'est' must be a number",
                     "model 'svm' version 1 READY: the reload failed; serving what was loaded before"}));
  log.clear();
  ASSERT_TRUE(engine->Apply(Scan({Simulated("svm", {2})}), {}, true).ok());
  engine->Sweep();
  EXPECT_EQ(log, (std::vector<std::string>{"loaded model 'svm' version 2",
                                           "retired model 'svm' version 1 (its work in flight finishes)",
                                           "released model 'svm' version 1"}));
}


// The engine's end closes its models on the core and destroys them off it.
// Here the thread running the core when the end comes is the keysearch's
// own replica (it posted its batch's completion and ran it, answering the
// try): destroying the model there would have it join itself.
TEST(EngineEndTest, ItsModelsAreDestroyedOffTheCoreEvenWhenAReplicaRunsIt) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("tbms_engine_end_" + std::to_string(getpid()));
  ASSERT_TRUE(text::TrainKeysearch({{"cars and trucks", "cars", ""}, {"cats and dogs", "pets", ""}}, dir / "1").ok());
  ModelConfig keysearch;
  keysearch.name = "keysearch";
  keysearch.backend = "keysearch";
  keysearch.est = Millis(10);
  keysearch.warmup.question = "cats";
  keysearch.versions = {{.number = 1, .dir = dir / "1", .simulated = {}, .fingerprint = 1}};
  VirtualClock clock;
  CoreRunner core;
  std::unique_ptr<Engine> engine = std::move(Engine::Create({}, &clock, &core)).value();
  const Status applied = engine->Apply(Scan({keysearch}), {}, false);
  ASSERT_TRUE(applied.ok()) << applied.message();

  TryRequest request;
  ASSERT_TRUE(engine->table()->AddCandidate("keysearch", {}, std::nullopt, &request).ok());
  request.inputs = std::make_shared<const Inputs>("cats");
  request.tloc = Millis(50);
  std::thread closer;
  std::promise<bool> answered;
  ASSERT_TRUE(engine->Submit("inst", "", std::move(request), [&](TryResult r) {
    closer = std::thread([&] { engine.reset(); });
    // The end waits behind this task; the thread running it goes on to run it.
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!core.has_waiting() && std::chrono::steady_clock::now() < give_up) std::this_thread::yield();
    answered.set_value(r.answer.has_value());
  }).ok());
  std::future<bool> got = answered.get_future();
  ASSERT_EQ(got.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_TRUE(got.get());
  closer.join();
  EXPECT_EQ(engine, nullptr);
  fs::remove_all(dir);
}

// After its end, the model manager refuses changes instead of serving again.
TEST_F(EngineTest, ClosedModelsRefuseChanges) {
  ASSERT_TRUE(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).ok());
  engine_->models().Close();
  EXPECT_EQ(engine_->table()->Find("svm"), nullptr);
  EXPECT_EQ(engine_->Apply(Scan({Simulated("svm", {1})}), {}, false).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->Unload("svm").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->models().SetReplicas("svm", 2).code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace tbms
