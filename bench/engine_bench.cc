// Concurrent submits into a running server's core: N producer threads, each
// submitting tries to the engine (a 0 ms top model with a fallback) with up
// to kWindow unanswered, as an io thread serves its keep-alive connections:
// it goes on to the next request and sleeps only when none is left. The
// engine is the server's own: RealTimeCore (CoreRunner + RealClock), the
// house's simulated backend, the report channel counting. Throughput must
// not fall as threads are added: there is no lock for them to queue on,
// only the core's task list, drained in groups by whichever thread is free.
//   build/engine_bench [--benchmark_filter=...]
// Counters: tries/s (items_per_second, all threads together) and
// tries_per_group (how many posts each pass of the core ran).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <mutex>

#include "tbms/server/engine.h"
#include "tbms/server/real_clock.h"

namespace tbms {
namespace {

ModelConfig ZeroModel(const std::string& name) {
  ModelConfig m;
  m.name = name;
  m.backend = "simulated";
  m.est = Millis(1);
  m.replicas = 64;  // never the bottleneck: the core is what is measured
  VersionConfig v;
  v.number = 1;
  v.simulated.base = Duration(0);
  m.versions.push_back(v);
  return m;
}

// One engine for the whole benchmark (all thread counts), as in a server.
struct Server {
  Server() : core(io.get_executor()) {
    Engine::Options options;
    options.broker.max_pending = 1'000'000;
    engine = std::move(Engine::Create(options, &core.clock, &core.runner)).value();
    HouseScan scan;
    scan.config.models = {ZeroModel("zero"), ZeroModel("backup")};
    if (Status s = engine->Apply(scan, {}, false); !s.ok()) std::abort();
  }

  boost::asio::io_context io;  // only for RealClock's Asio timer; a 0 ms model never needs it
  RealTimeCore core;
  std::unique_ptr<Engine> engine;
};

Server& TheServer() {
  static Server* server = new Server();  // never destroyed: benchmark threads may still hold tries
  return *server;
}

TryRequest Request(const std::shared_ptr<const ModelTable>& table) {
  TryRequest r;
  r.inputs = std::make_shared<const Inputs>("what is a broker?");
  (void)table->AddCandidate("zero", {}, std::nullopt, &r);
  (void)table->AddCandidate("backup", {}, std::nullopt, &r);
  r.tloc = Millis(50);
  r.cross_request = 1;
  r.cross_lag = Millis(10);
  r.owner = table;
  return r;
}

std::mutex& BaselineMutex() {
  static std::mutex mu;
  return mu;
}

// Connections per producer thread: tries one thread has in flight at most.
constexpr uint64_t kWindow = 32;

// Sleeps (as an io thread in epoll) until `answered` reaches `count`.
void WaitUntil(const std::atomic<uint64_t>& answered, uint64_t count) {
  for (uint64_t seen = answered.load(std::memory_order_acquire); seen < count;
       seen = answered.load(std::memory_order_acquire)) {
    answered.wait(seen, std::memory_order_acquire);
  }
}

// Submits tries and counts their answers; kUnderMutex holds one mutex around
// each submit, as the engine's core_mu_ did before the core runner.
template <bool kUnderMutex>
void ConcurrentSubmits(benchmark::State& state) {
  Server& server = TheServer();
  const std::shared_ptr<const ModelTable> table = server.engine->table();
  const uint64_t tasks_before = server.core.runner.tasks_run();
  const uint64_t groups_before = server.core.runner.groups_run();
  // Shared with each try's Done, which may still be notifying when the
  // waiter has already seen its answer and moved on.
  auto answered = std::make_shared<std::atomic<uint64_t>>(0);
  auto wrong = std::make_shared<std::atomic<int64_t>>(0);
  uint64_t sent = 0;
  for (auto _ : state) {
    auto done = [answered, wrong](TryResult r) {
      if (r.rank != 0) wrong->fetch_add(1);
      answered->fetch_add(1, std::memory_order_release);
      answered->notify_one();
    };
    Status s;
    if constexpr (kUnderMutex) {
      std::lock_guard lock(BaselineMutex());
      s = server.engine->Submit("bench", "", Request(table), std::move(done));
    } else {
      s = server.engine->Submit("bench", "", Request(table), std::move(done));
    }
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    ++sent;
    WaitUntil(*answered, sent - std::min<uint64_t>(sent, kWindow - 1));
  }
  WaitUntil(*answered, sent);
  if (wrong->load() > 0) state.SkipWithError("a try was not answered by the 0 ms model");
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    const double groups = static_cast<double>(server.core.runner.groups_run() - groups_before);
    const double tasks = static_cast<double>(server.core.runner.tasks_run() - tasks_before);
    state.counters["tries_per_group"] = groups > 0 ? tasks / groups : 0;
  }
}

// TBMS: the core runner; a thread that finds the core busy leaves its try
// to the thread running it.
void BM_ConcurrentSubmits(benchmark::State& state) { ConcurrentSubmits<false>(state); }
BENCHMARK(BM_ConcurrentSubmits)->Threads(1)->Threads(2)->Threads(4)->Threads(8)->UseRealTime();

// The baseline: the same core behind one mutex that every submit takes (the
// engine before the core runner): each thread runs its own try, the others
// queue on the lock.
void BM_ConcurrentSubmitsUnderOneMutex(benchmark::State& state) { ConcurrentSubmits<true>(state); }
BENCHMARK(BM_ConcurrentSubmitsUnderOneMutex)->Threads(1)->Threads(2)->Threads(4)->Threads(8)->UseRealTime();

}  // namespace
}  // namespace tbms

BENCHMARK_MAIN();
