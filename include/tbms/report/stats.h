// The report channel's counters: per (instance, task), per model, and per
// second. One writer — the core, under the engine's lock — records with
// relaxed atomics; readers (/metrics, /v1/report) read without that lock, so
// reporting never slows the broker. Label sets are bounded, and one
// instance cannot crowd out the others: past max_tasks_per_instance rows,
// an instance's new tasks share its own (instance, "other") row; past
// max_tasks rows in all, new pairs share one ("other", "other") row.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/broker/try.h"
#include "tbms/common/mutex.h"
#include "tbms/report/histogram.h"

namespace tbms {

// Per-second count and sum for the last two minutes (QPS, average lag, busy time).
class SecondRing {
 public:
  static constexpr int kSeconds = 120;
  void Add(TimePoint now, double count, double sum);  // writer only
  struct Point {
    int64_t second;  // since the clock's epoch
    double count, sum;
  };
  // The complete seconds before now's (at most kSeconds - 1), oldest first;
  // seconds with nothing recorded are zeros.
  std::vector<Point> Read(TimePoint now, int seconds = kSeconds) const;

 private:
  struct Slot {
    std::atomic<int64_t> second{-1};
    std::atomic<double> count{0}, sum{0};
  };
  std::array<Slot, kSeconds> slots_;
};

// One (instance, task): a task is a ranked candidate list, labelled by its
// model names joined with '>' (for example "embedding>svm>bayes>keysearch").
struct TaskStats {
  static constexpr int kWindows = 6;  // 10-minute lag windows: the last hour
  static constexpr Duration kWindow = std::chrono::minutes(10);

  TaskStats(std::string instance, std::string task, std::vector<std::string> models,
            SecondRing* all_tries, Duration wall_offset = Duration(0));
  void Record(const TryResult& result, TimePoint now);  // writer only

  const std::string instance, task;
  const std::vector<std::string> models;  // rank order
  SecondRing* const all_tries;            // the registry's, for global QPS and lag
  const Duration wall_offset;             // clock time + offset = Unix time: windows align to it

  std::atomic<uint64_t> tries{0};
  std::unique_ptr<std::atomic<uint64_t>[]> answered;  // by rank, of `models`
  // Answers by a (model, rank) that `models` does not have: a task whose
  // candidates a reload changed keeps its row, and counts what now answers
  // here. Appended by the writer only, at most kMaxLaterAnswers (past it a
  // try counts in tries only); readers see the first later_answer_count().
  struct LaterAnswer {
    std::string model;
    int rank = 0;
    std::atomic<uint64_t> count{0};
  };
  static constexpr size_t kMaxLaterAnswers = 32;
  size_t later_answer_count() const { return later_used_.load(std::memory_order_acquire); }
  const LaterAnswer& later_answer(size_t i) const { return later_[i]; }
  std::array<std::atomic<uint64_t>, kReasonCount> downgrades{};  // answered below rank 0, by reason
  std::array<std::atomic<uint64_t>, kReasonCount> no_answer{};
  std::atomic<uint64_t> extra_attempts{0};  // launches beyond the first: the cost of hedging
  Histogram lag{Histogram::LatencyBounds()};
  Histogram top_budget_use{Histogram::RatioBounds()};  // TryResult::top_budget_use
  struct Window {
    std::atomic<int64_t> id{-1};  // Unix time / kWindow
    Histogram lag{Histogram::FineLatencyBounds()};
  };
  std::array<Window, kWindows> windows;

 private:
  void CountAnswer(std::string_view model, int rank);
  std::unique_ptr<LaterAnswer[]> later_;  // allocated at the first
  std::atomic<size_t> later_used_{0};
};

// One model version.
struct ModelStats {
  ModelStats(std::string model, std::string version);

  const std::string model, version;
  // The batching in force (the online tuner moves it).
  std::atomic<int> max_batch_size{0};
  std::atomic<double> max_queue_delay_seconds{0};
  // The batch-time curve as served: T_b (ms, smoothed) for b = 1 .. kCurveSizes,
  // 0 where no batch of that size has run. What the dashboard's curves read.
  static constexpr int kCurveSizes = 64;
  std::array<std::atomic<double>, kCurveSizes> batch_ms{};
  Histogram queue_wait{Histogram::LatencyBounds()};
  Histogram batch_size{Histogram::SizeBounds()};
  Histogram service_time{Histogram::LatencyBounds()};
  Histogram service_fine{Histogram::FineLatencyBounds()};  // for reported quantiles
  std::atomic<uint64_t> batches{0}, items{0}, late_drops{0}, errors{0};
  std::atomic<uint64_t> skipped{0};  // batch items not computed: their try was over
};

// A model version's replicas on one device (an instance group): a cell of
// the occupancy table.
struct PlacementStats {
  PlacementStats(std::string device, std::string model, std::string version);

  const std::string device, model, version;
  std::atomic<int> replicas{0};  // serving; 0 once unloaded
  std::atomic<double> share{0};  // of the device's time it may take; 0: no limit
  std::atomic<double> busy_seconds{0};
  SecondRing busy;  // busy seconds per second: occupancy
};

// A device of the house (devices.toml, or one a model names the old way).
struct DeviceStats {
  DeviceStats(std::string name, std::string kind);

  const std::string name, kind;  // kind: cpu, gpu, remote
  // Replica-seconds of work per second it holds (DeviceConfig::capacity);
  // 0: as many as the replicas placed on it.
  std::atomic<double> capacity{0};
  std::atomic<int64_t> memory_mib{0};    // 0: not declared
  std::atomic<int64_t> reserved_mib{0};  // by the instance groups placed on it
  std::atomic<bool> up{true};            // false: drained (by an admin, or failed)
  std::atomic<bool> in_house{true};      // false: gone from the house (or declared again as another kind)
  // A GPU's: its CUDA index (-1: not a GPU), and the driver's latest
  // reading (utilization < 0: none, as where NVML is absent).
  std::atomic<int> gpu_index{-1};
  std::atomic<double> gpu_utilization{-1};
  std::atomic<int64_t> gpu_memory_used{0};   // bytes
  std::atomic<int64_t> gpu_memory_total{0};  // bytes
};

class StatsRegistry {
 public:
  // `wall_offset` maps the core's clock to Unix time (clock + offset), so lag
  // windows start at wall-clock ten-minute marks.
  explicit StatsRegistry(size_t max_tasks = 1024, Duration wall_offset = Duration(0),
                         size_t max_tasks_per_instance = 64)
      : max_tasks_(max_tasks), max_tasks_per_instance_(max_tasks_per_instance), wall_offset_(wall_offset) {}
  static constexpr size_t kMaxModels = 4096;

  // Writer side, under the core lock.
  // `task` is the task's name, or empty: then the candidates' names joined by '>'.
  TaskStats* Task(std::string_view instance, std::string_view task, const TryRequest& request)
      EXCLUDES(mu_);
  // The counters of (model, version): the same ones again when a version
  // is reloaded, so series continue. At most kMaxModels, then nullptr.
  ModelStats* AddModel(std::string model, std::string version) EXCLUDES(mu_);
  // Of (device, model, version), likewise; at most kMaxModels.
  PlacementStats* AddPlacement(std::string device, std::string model, std::string version) EXCLUDES(mu_);
  // Of (device, kind), likewise; at most kMaxDevices.
  DeviceStats* AddDevice(std::string name, std::string kind) EXCLUDES(mu_);
  std::vector<DeviceStats*> EditDevices() EXCLUDES(mu_);  // every one, to mark those gone or down
  static constexpr size_t kMaxDevices = 1024;

  // Reader side: pointers stay valid for the registry's lifetime.
  std::vector<const TaskStats*> tasks() const EXCLUDES(mu_);
  std::vector<const ModelStats*> models() const EXCLUDES(mu_);
  std::vector<const PlacementStats*> placements() const EXCLUDES(mu_);
  std::vector<const DeviceStats*> devices() const EXCLUDES(mu_);
  const SecondRing& all_tries() const { return all_tries_; }

 private:
  const size_t max_tasks_;
  const size_t max_tasks_per_instance_;
  const Duration wall_offset_;
  SecondRing all_tries_;
  // The writer's lookup, without mu_: only the writer changes tasks_, so
  // its own reads cannot race (the analysis cannot know who the writer is).
  TaskStats* FindTask(const std::string& key) const NO_THREAD_SAFETY_ANALYSIS;

  mutable Mutex mu_;  // guards the containers' structure, not the counters
  std::map<std::string, std::unique_ptr<TaskStats>, std::less<>> tasks_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<ModelStats>> models_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<PlacementStats>> placements_ GUARDED_BY(mu_);
  std::vector<std::unique_ptr<DeviceStats>> devices_ GUARDED_BY(mu_);
  std::map<std::string, size_t, std::less<>> rows_ GUARDED_BY(mu_);  // task rows per instance
  std::unique_ptr<TaskStats> other_ GUARDED_BY(mu_);  // past max_tasks
};

}  // namespace tbms
