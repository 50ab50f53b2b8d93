// What signing costs per request: the server's Verify (parse, SHA-256 of the
// body, HMAC, constant-time compare, replay cache) and the client's header.
//   taskset -c 1 build/auth_bench --benchmark_repetitions=5
#include <benchmark/benchmark.h>

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

void BM_ClientHeader(benchmark::State& state) {
  const AccessKey key{"nianjianQA", "instance-secret-0123456789abcdef", "nianjianQA"};
  for (auto _ : state) benchmark::DoNotOptimize(AuthorizationHeader(key, "POST", kTarget, kBody, kNow, NewNonce()));
}
BENCHMARK(BM_ClientHeader);

}  // namespace
}  // namespace tbms

BENCHMARK_MAIN();
