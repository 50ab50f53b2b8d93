// The scheduling core alone, on a virtual clock: the cost of one try (plan,
// launch, batch, answer) and the memory a pending try holds.
//   build/broker_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <malloc.h>

#include "tbms/backends/simulated.h"
#include "tbms/batching/batcher.h"
#include "tbms/broker/broker.h"
#include "tbms/common/virtual_clock.h"
#include "tbms/report/stats.h"

namespace tbms {
namespace {

struct Core {
  explicit Core(std::vector<double> service_ms, int max_batch = 8, StatsRegistry* stats = nullptr) {
    broker = std::move(Broker::Create({.max_pending = 10'000'000}, &clock)).value();
    for (size_t i = 0; i < service_ms.size(); ++i) {
      SimulatedExecutor::Options so;
      so.model = "m" + std::to_string(i);
      so.base = Millis(service_ms[i]);
      executors.push_back(std::move(SimulatedExecutor::Create(so, &clock)).value());
      Batcher::Options bo;
      bo.model = so.model;
      bo.max_batch_size = max_batch;
      bo.max_queue_size = 10'000'000;
      if (stats) bo.stats = stats->AddModel(so.model, "1");
      batchers.push_back(
          std::move(Batcher::Create(bo, &clock, executors.back().get(), broker.get())).value());
    }
  }
  TryRequest Request(std::vector<double> est_ms, double tloc_ms) const {
    TryRequest r;
    r.inputs = std::make_shared<Inputs>("what is a broker?");
    for (size_t i = 0; i < est_ms.size(); ++i) {
      r.AddModel(batchers[i]->model(), batchers[i].get(), Millis(est_ms[i]));
    }
    r.tloc = Millis(tloc_ms);
    r.cross_request = 1;
    r.cross_lag = Millis(10);
    return r;
  }

  VirtualClock clock;
  std::unique_ptr<Broker> broker;
  std::vector<std::unique_ptr<SimulatedExecutor>> executors;
  std::vector<std::unique_ptr<Batcher>> batchers;
};

// A try answered at once by its top model (0 ms service): the broker's own
// overhead per request, end to end through the batcher.
void BM_TryTopModelAnswers(benchmark::State& state) {
  Core core({0, 0, 0, 0});
  const TryRequest proto = core.Request({35, 25, 15, 5}, 50);
  int64_t answered = 0;
  for (auto _ : state) {
    TryRequest r = proto;
    (void)core.broker->Submit(std::move(r), [&](TryResult res) { answered += res.rank == 0; });
    core.clock.AdvanceTo(core.clock.Now());
  }
  if (answered != state.iterations()) state.SkipWithError("a try was not answered by rank 0");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TryTopModelAnswers);

// The same with the report channel counting (task, model and per-second
// counters): its cost per try.
void BM_TryTopModelAnswersWithStats(benchmark::State& state) {
  StatsRegistry stats;
  Core core({0, 0, 0, 0}, 8, &stats);
  const TryRequest proto = core.Request({35, 25, 15, 5}, 50);
  for (auto _ : state) {
    TryRequest r = proto;
    r.stats = stats.Task("bench", "", r);
    (void)core.broker->Submit(std::move(r), [](TryResult res) { benchmark::DoNotOptimize(res); });
    core.clock.AdvanceTo(core.clock.Now());
  }
  if (stats.tasks().front()->tries.load() != static_cast<uint64_t>(state.iterations())) {
    state.SkipWithError("tries were not counted");
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TryTopModelAnswersWithStats);

// The top model takes 1 s: the first tries hedge, wait at the cap, skip and
// cancel it as overdue; once its slowness is learned it is skipped up front
// and svm answers. Mostly the steady state: predict, skip, launch, answer.
void BM_TryTopModelSlow(benchmark::State& state) {
  Core core({1000, 25, 15, 5}, /*max_batch=*/64);
  const TryRequest proto = core.Request({35, 25, 15, 5}, 50);
  for (auto _ : state) {
    TryRequest r = proto;
    (void)core.broker->Submit(std::move(r), [](TryResult res) { benchmark::DoNotOptimize(res); });
    core.clock.Advance(Millis(51));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TryTopModelSlow);

// Heap bytes held per pending try: 4 candidates, the top one queued in its
// batcher, fallback and deadline timers armed. (The estimates are tiny so
// that the queue of n tries still looks feasible to the predictor.)
void BM_MemoryPerPendingTry(benchmark::State& state) {
  const auto n = static_cast<size_t>(state.range(0));
  double per_try = 0;
  for (auto _ : state) {
    Core core({100, 100, 100, 100}, /*max_batch=*/1);
    const TryRequest proto = core.Request({0.001, 0.001, 0.001, 0.001}, 1000);
    const size_t before = mallinfo2().uordblks;
    for (size_t i = 0; i < n; ++i) (void)core.broker->Submit(proto, [](TryResult) {});
    per_try = static_cast<double>(mallinfo2().uordblks - before) / static_cast<double>(n);
    if (core.broker->pending() != n) state.SkipWithError("tries did not stay pending");
  }
  state.counters["bytes_per_pending_try"] = per_try;
}
BENCHMARK(BM_MemoryPerPendingTry)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace tbms

BENCHMARK_MAIN();
