// What signing costs per request: the server's Verify (parse, SHA-256 of the
// body, HMAC, constant-time compare, replay cache) and the client's header.
//   taskset -c 1 build/auth_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>

#include <fstream>
#include <vector>

#include "tbms/auth/verifier.h"

namespace tbms {
namespace {

const std::string kBody = R"({"inputs":{"question":"What is the capital of China?"},"task":"qa"})";
const std::string kTarget = "/v1/instances/nianjianQA/try";
constexpr int64_t kNow = 1764390000;

void BM_Verify(benchmark::State& state) {
  AccessKeys keys;
  keys["nianjianQA"] = {"nianjianQA", "instance-secret-0123456789abcdef", "nianjianQA"};
  Verifier verifier({.window_s = 300, .max_nonces = 1 << 24});
  std::vector<std::string> headers;  // signed ahead: each nonce is accepted once
  for (int i = 0; i < (1 << 16); ++i) {
    headers.push_back(AuthorizationHeader(keys["nianjianQA"], "POST", kTarget, kBody, kNow, NewNonce()));
  }
  size_t i = 0;
  for (auto _ : state) {
    if (i == headers.size()) {
      state.PauseTiming();
      for (auto& h : headers) h = AuthorizationHeader(keys["nianjianQA"], "POST", kTarget, kBody, kNow, NewNonce());
      i = 0;
      state.ResumeTiming();
    }
    auto key = verifier.Verify({"POST", kTarget, kBody, headers[i++]}, keys, kNow);
    if (!key.ok()) state.SkipWithError(key.status().message().c_str());
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_Verify);

// The parts: what each step of Verify costs.
void BM_BodyHash(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(BodyHash(kBody));
}
BENCHMARK(BM_BodyHash);

void BM_Hmac(benchmark::State& state) {
  const std::string message = StringToSign("POST", kTarget, "1764390000", "0123456789abcdef", BodyHash(kBody));
  for (auto _ : state) benchmark::DoNotOptimize(Sign("instance-secret-0123456789abcdef", message));
}
BENCHMARK(BM_Hmac);

long RssKb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// What a full replay cache costs: resident bytes per remembered nonce.
void BM_ReplayCacheMemory(benchmark::State& state) {
  const AccessKey key{"k", "replay-secret-0123456789abcdef", "i"};
  AccessKeys keys{{"k", key}};
  const size_t n = 1 << 20;
  std::vector<std::string> headers;
  for (size_t i = 0; i < n; ++i) headers.push_back(AuthorizationHeader(key, "POST", "/t", "", kNow, NewNonce()));
  for (auto _ : state) {
    Verifier verifier({.window_s = 300, .max_nonces = n, .max_nonces_per_key = n});
    const long before = RssKb();
    for (const std::string& h : headers) benchmark::DoNotOptimize(verifier.Verify({"POST", "/t", "", h}, keys, kNow));
    state.counters["bytes_per_entry"] = 1024.0 * static_cast<double>(RssKb() - before) / verifier.remembered();
  }
}
BENCHMARK(BM_ReplayCacheMemory)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_ClientHeader(benchmark::State& state) {
  const AccessKey key{"nianjianQA", "instance-secret-0123456789abcdef", "nianjianQA"};
  for (auto _ : state) benchmark::DoNotOptimize(AuthorizationHeader(key, "POST", kTarget, kBody, kNow, NewNonce()));
}
BENCHMARK(BM_ClientHeader);

}  // namespace
}  // namespace tbms

BENCHMARK_MAIN();
