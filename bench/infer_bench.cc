// KServe v2 infer over REST and over gRPC against one loopback server, side
// by side in one run: closed loop, `--threads` callers each sending
// `--requests` infers of `--model` (a one-question BYTES input), unsigned
// (the server runs --insecure-dev). Prints requests/s and latency p50/p99
// per protocol: both, or only the one named (--rest or --grpc).
// bench/remote.py and bench/grpc_cpu.sh run it; docs/benchmarks.md has the figures.
//
//   infer_bench --rest http://127.0.0.1:8000 --grpc 127.0.0.1:8001 --model svm --threads 8 --requests 2000
#include "tbms/client/client.h"  // first: see src/backends/remote/grpc_transport.cc

#include <grpcpp/grpcpp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <utility>
#include <vector>

#include "kserve/grpc_service.grpc.pb.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double rps = 0, p50_ms = 0, p99_ms = 0;
  int errors = 0;
};

// Runs `call` threads x requests times; its latencies and errors.
template <typename Call>
Figures Run(int threads, int requests, Call call) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(threads));
  std::vector<int> errors(static_cast<size_t>(threads), 0);
  const auto start = Clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < requests; ++i) {
        const auto t0 = Clock::now();
        if (!call()) ++errors[static_cast<size_t>(t)];
        latencies[static_cast<size_t>(t)].push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      }
    });
  }
  for (auto& w : workers) w.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  Figures f;
  f.rps = static_cast<double>(all.size()) / seconds;
  f.p50_ms = all[all.size() / 2];
  f.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  for (int e : errors) f.errors += e;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "KServe v2 infer over REST and gRPC, side by side (closed loop, loopback); only one when only it is named");
  std::string rest = "http://127.0.0.1:8000", grpc_address = "127.0.0.1:8001", model = "svm";
  int threads = 8, requests = 2000;
  app.add_option("--rest", rest, "The server's REST URL")->capture_default_str();
  app.add_option("--grpc", grpc_address, "The server's gRPC HOST:PORT")->capture_default_str();
  app.add_option("--model", model, "The model to infer")->capture_default_str();
  app.add_option("--threads", threads, "Callers at once")->check(CLI::Range(1, 256))->capture_default_str();
  app.add_option("--requests", requests, "Infers per caller")->check(CLI::Range(1, 1000000))->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // Both protocols at their defaults, or only those named.
  const bool both = app.count("--rest") == 0 && app.count("--grpc") == 0;
  std::vector<std::pair<const char*, Figures>> results;

  if (both || app.count("--rest") > 0) {
    const std::string json = "{\"inputs\":[{\"name\":\"question\",\"datatype\":\"BYTES\",\"shape\":[1],"
                             "\"data\":[\"what is a broker?\"]}]}";
    auto client =
        tbms::client::Client::Create({.endpoint = rest, .max_idle_connections = static_cast<size_t>(threads)});
    if (!client.ok()) {
      std::fprintf(stderr, "infer_bench: %s\n", client.status().message().c_str());
      return 2;
    }
    results.emplace_back("REST (JSON)", Run(threads, requests, [&] { return (*client)->Infer(model, json).ok(); }));
  }

  if (both || app.count("--grpc") > 0) {
    inference::ModelInferRequest m;
    m.set_model_name(model);
    auto* in = m.add_inputs();
    in->set_name("question");
    in->set_datatype("BYTES");
    in->add_shape(1);
    in->mutable_contents()->add_bytes_contents("what is a broker?");
    // The generated blocking stub, as most gRPC callers use it.
    auto channel = grpc::CreateChannel(grpc_address, grpc::InsecureChannelCredentials());
    auto stub = inference::GRPCInferenceService::NewStub(channel);
    results.emplace_back("gRPC", Run(threads, requests, [&] {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      inference::ModelInferResponse response;
      return stub->ModelInfer(&ctx, m, &response).ok();
    }));
  }

  std::printf("| protocol | infers/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|\n");
  int errors = 0;
  for (const auto& [name, f] : results) {
    std::printf("| %s | %.0f | %.3f | %.3f | %d |\n", name, f.rps, f.p50_ms, f.p99_ms, f.errors);
    errors += f.errors;
  }
  return errors > 0 ? 1 : 0;
}
