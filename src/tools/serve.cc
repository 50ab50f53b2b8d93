// tbms serve: runs the HTTP server over a model house (or simulated models)
// until SIGTERM/SIGINT,
// then drains (readiness false, no new requests, in-flight tries finish by
// their deadlines) and exits 0.
#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "commands.h"
#include "model_flags.h"
#include "replicas_flag.h"
#include "tbms/auth/replay_store.h"
#include "tbms/backends/gpu_telemetry.h"
#include "tbms/common/address.h"
#include "tbms/house/config.h"
#include "tbms/server/house_loader.h"
#include "tbms/server/grpc_server.h"
#include "tbms/server/http_server.h"
#include "tbms/server/real_clock.h"
#include "tbms/server/simulate_spec.h"
#include "tbms/tune/profile.h"

#include <grpc/support/log.h>  // after TBMS's headers: see src/backends/remote/grpc_transport.cc

namespace tbms::tools {
namespace {

struct ServeFlags {
  ModelFlags model;  // batching, simulator shape, guard
  std::string host = "127.0.0.1";
  uint16_t port = 8000;
  int grpc_port = -1;  // -1: no gRPC edge
  int threads = 1;
  std::string simulate;
  std::string house;
  std::string model_control = "none";
  double poll_interval_s = 5;
  int replicas = 1;
  double hang_rate = 0;
  size_t max_pending = 100000;
  size_t max_body_bytes = 1 << 20;
  size_t max_connections = 4096;
  size_t max_connections_per_client = 1024;
  double idle_timeout_s = 30;
  double drain_delay_s = 0;
  bool metrics = true;
  std::string policy = "tbms";
  int core_lag_margin = Broker::Options{}.core_lag_margin;
  bool insecure_dev = false;
  int64_t auth_window_s = 300;
  size_t replay_cache = 1 << 20;
  size_t replay_cache_per_key = 1 << 19;
  std::string replay_store;  // HOST:PORT or unix:PATH of Redis; empty: this server's cache only
  std::string replay_store_down = "refuse";
  int64_t replay_store_timeout_ms = RedisStoreOptions{}.timeout_ms;
  std::string metrics_address;  // HOST:PORT
  std::string tls_cert, tls_key;
  std::string nvml_library = kNvmlLibrary;  // "off": no GPU readings
};

// Flags that only one kind of serving reads: each is refused with the other,
// so no flag is silently ignored. INVALID_ARGUMENT names the flag and what
// to do instead.
Status CheckFlagsApply(const CLI::App& cmd, const ServeFlags& f) {
  auto given = [&](std::string_view flag) { return cmd.count(std::string(flag)) > 0; };
  if (f.policy != "tbms" && given("--core-lag-margin")) {
    return InvalidArgument("--core-lag-margin applies to --policy tbms; the baselines plan to tloc itself");
  }
  if (!f.metrics && given("--metrics-address")) {
    return InvalidArgument("--metrics-address serves the metrics: with --metrics off there are none");
  }
  if (given("--tls-cert") != given("--tls-key")) return InvalidArgument("TLS needs both --tls-cert and --tls-key");
  if (f.insecure_dev) {
    for (std::string_view flag : {"--auth-window-s", "--replay-cache", "--replay-cache-per-key"}) {
      if (given(flag)) return InvalidArgument(std::string(flag) + " applies to signed requests: --insecure-dev has none");
    }
  }
  if (f.replay_store.empty()) {
    for (std::string_view flag : {"--replay-store-down", "--replay-store-timeout-ms"}) {
      if (given(flag)) return InvalidArgument(std::string(flag) + " applies to --replay-store");
    }
  } else if (f.insecure_dev) {
    return InvalidArgument("--replay-store guards signed requests: --insecure-dev has none");
  }
  if (!f.house.empty()) {
    std::vector<SimulateOnlyFlag> flags(SimulateOnlyModelFlags().begin(), SimulateOnlyModelFlags().end());
    static const std::string kReplicasKeyInFile = std::string(kReplicasKey) + " in model.toml";
    flags.push_back({kReplicasFlag, kReplicasKeyInFile});
    flags.push_back({kDeprecatedReplicasFlag, kReplicasKeyInFile});
    flags.push_back({"--hang-rate", "hang_rate in each version's simulated.toml"});
    for (const SimulateOnlyFlag& s : flags) {
      if (given(s.flag)) {
        return InvalidArgument(std::string(s.flag) + " applies to --simulate models; set " +
                               std::string(s.house_key) + " (docs/house.md)");
      }
    }
    if (given("--poll-interval-s") && f.model_control != "poll") {
      return InvalidArgument("--poll-interval-s applies to --model-control poll");
    }
    return OkStatus();
  }
  if (given("--nvml-library")) return InvalidArgument("--nvml-library reads the house's GPUs: --simulate models use none");
  for (std::string_view flag : {"--model-control", "--poll-interval-s"}) {
    if (given(flag)) {
      return InvalidArgument(std::string(flag) + " applies to --house; --simulate models are loaded once");
    }
  }
  return OkStatus();
}

int Fail(const Status& s) {
  std::cerr << "tbms serve: " << s.message() << "\n";
  return 1;
}

// A flag's value that cannot be served: exit 2, as for every bad flag.
int BadFlag(const Status& s) {
  std::cerr << "tbms serve: " << s.message() << "\n";
  return 2;
}

// The models to serve: the house at --house, or --simulate's models.
// A house's warnings are logged here, and given to the loader so that it
// does not log them again.
StatusOr<HouseScan> InitialModels(const ServeFlags& f, std::vector<HouseWarning>* warnings) {
  if (!f.house.empty()) {
    auto house = LoadHouse(f.house, {}, warnings);
    if (!house.ok()) return house.status();
    LogHouseWarnings(*warnings);
    return HouseScan{std::move(house).value(), {}, {}};
  }
  SimulateDefaults d;
  d.batching.max_batch_size = f.model.max_batch;
  d.batching.max_queue_delay = Millis(f.model.max_queue_delay_ms);
  d.batching.max_queue_size = f.model.max_queue;
  auto jitter = ParseJitter(f.model.jitter);
  if (!jitter.ok()) return jitter.status();
  d.shape.jitter = *jitter;
  d.shape.jitter_spread = f.model.jitter_spread;
  d.shape.straggler_rate = f.model.straggler_rate;
  d.shape.failure_rate = f.model.failure_rate;
  d.shape.hang_rate = f.hang_rate;
  d.shape.replicas = f.replicas;
  d.shape.seed = f.model.seed;
  auto models = ParseSimulateSpec(f.simulate, d);
  if (!models.ok()) return models.status();
  if (Status s = CheckWarmupCount(f.model.warmup); !s.ok()) return InvalidArgument("--warmup " + s.message());
  return HouseScan{SimulatedHouse(*models, f.model.warmup), {}, {}};
}

StatusOr<Engine::Options> EngineOptions(const ServeFlags& f) {
  Engine::Options options;
  options.broker.guard = Millis(f.model.guard_ms);
  options.broker.grace = Millis(f.model.guard_ms);  // the same margin for "overdue"

  options.broker.max_pending = f.max_pending;
  options.broker.core_lag_margin = f.core_lag_margin;
  options.metrics = f.metrics;
  auto policy = ParsePolicy(f.policy);
  if (!policy.ok()) return policy.status();
  options.policy = *policy;
  options.log = [](const std::string& line) { std::cerr << "tbms: " << line << std::endl; };
  return options;
}

// HOST:PORT into its parts (port 0: any free one).
Status SplitAddress(const std::string& address, std::string* host, uint16_t* port) {
  const std::optional<HostPort> parsed = ParseHostPort(address, /*allow_any_port=*/true);
  if (!parsed) return InvalidArgument("--metrics-address must be HOST:PORT, e.g. 127.0.0.1:9100, not '" + address + "'");
  *host = parsed->host;
  *port = parsed->port;
  return OkStatus();
}

// The fleet's replay store, or none.
StatusOr<std::shared_ptr<ReplayStore>> OpenReplayStore(const ServeFlags& f) {
  if (f.replay_store.empty()) return std::shared_ptr<ReplayStore>();
  StatusOr<std::unique_ptr<ReplayStore>> store = NewRedisReplayStore(
      {.address = f.replay_store,
       .timeout_ms = f.replay_store_timeout_ms,
       .log = [](const std::string& line) { std::cerr << "tbms: " << line << std::endl; }});
  if (!store.ok()) return InvalidArgument("--replay-store: " + store.status().message());
  return std::shared_ptr<ReplayStore>(std::move(*store));
}

// Without keys nobody could call; with --insecure-dev everybody can, loudly.
Status CheckAccess(const ServeFlags& f, const ModelTable& table) {
  if (f.insecure_dev) {
    std::cerr << "tbms: WARNING: --insecure-dev: requests are NOT authenticated. Anyone who can reach this "
              << "server (on " << f.host << ") can use every model, every instance, the repository API and the report.\n"
              << "tbms: WARNING: use it only for local experiments; give the house access keys "
                 "(docs/security.md) for anything else."
              << std::endl;
    return OkStatus();
  }
  if (!table.access->keys.empty()) return OkStatus();
  return FailedPrecondition(
      std::string(f.house.empty() ? "--simulate serves without a model house, so without access keys"
                                  : "the house declares no access keys (instances.toml: [admin] keys, "
                                    "[instances.NAME] keys; docs/security.md)") +
      ": nobody could call this server. Add keys, or pass --insecure-dev for a local experiment.");
}

// The edges a server runs; grpc may be null.
struct Edges {
  HttpServer* http;
  GrpcServer* grpc;

  void Unready() {
    http->Unready();
    if (grpc) grpc->Unready();
  }
  void Drain() {
    http->Drain();
    if (grpc) grpc->Drain();
  }
  size_t active_requests() const { return http->active_requests() + (grpc ? grpc->active_requests() : 0); }
};

// Polls until nothing is in flight, then stops the edges, the engine and the
// io_context. Once no try is pending, answers still being written get
// `write_for` (--idle-timeout-s, what HTTP gives a client that will not read)
// from then: a gRPC client that never reads its answer cannot hold the drain.
void WaitDrained(boost::asio::steady_timer& timer, Edges& edges, Engine& engine, RealTimeCore& core,
                 boost::asio::io_context& ioc, Duration write_for,
                 std::chrono::steady_clock::time_point writes_until = std::chrono::steady_clock::time_point::max()) {
  timer.expires_after(std::chrono::milliseconds(5));
  timer.async_wait([&, write_for, writes_until](const boost::system::error_code&) mutable {
    const auto now = std::chrono::steady_clock::now();
    const bool tries_pending = engine.pending() != 0;
    if (tries_pending) {
      writes_until = std::chrono::steady_clock::time_point::max();
    } else if (writes_until == std::chrono::steady_clock::time_point::max()) {
      writes_until = now + write_for;
    }
    const size_t writing = edges.active_requests();
    if (!tries_pending && (writing == 0 || now >= writes_until)) {
      if (writing != 0) std::cerr << "tbms: " << writing << " answers still unread by their clients; closing" << std::endl;
      std::cerr << "tbms: drained, exiting" << std::endl;
      if (edges.grpc) edges.grpc->Shutdown();
      core.Stop();
      ioc.stop();
      return;
    }
    WaitDrained(timer, edges, engine, core, ioc, write_for, writes_until);
  });
}

bool HasGpus(const Engine& engine) {
  if (engine.stats() == nullptr) return false;
  for (const DeviceStats* d : engine.stats()->devices()) {
    if (d->in_house.load() && d->gpu_index.load() >= 0) return true;
  }
  return false;
}

// Reads the house's GPUs from the driver into the device metrics now and
// then once a second (NVML's own sample period is at most that), on an io
// thread: a few microseconds per GPU. Says once when a GPU cannot be read.
void SampleGpus(boost::asio::steady_timer& timer, Engine& engine, const GpuTelemetry& gpus, std::string& said) {
  std::string unread;
  for (const Status& s : engine.SampleGpus(gpus)) unread += (unread.empty() ? "" : "; ") + s.message();
  if (!unread.empty() && unread != said) std::cerr << "tbms: GPU telemetry: " << unread << std::endl;
  said = unread;
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([&](const boost::system::error_code& ec) {
    if (!ec) SampleGpus(timer, engine, gpus, said);
  });
}

// gRPC's own log lines in the server's voice: errors only, without the
// core's timestamp, thread and source line.
void LogGrpcErrors(gpr_log_func_args* args) {
  if (args->severity == GPR_LOG_SEVERITY_ERROR) std::cerr << "tbms: gRPC: " << args->message << std::endl;
}

int Serve(const ServeFlags& f) {
  // A peer that went away (a client, a remote model, the replay store) is an error to
  // handle where the write failed, not a signal that ends the server.
  std::signal(SIGPIPE, SIG_IGN);
  gpr_set_log_function(LogGrpcErrors);
  auto options = EngineOptions(f);
  if (!options.ok()) return BadFlag(options.status());
  auto control = ParseModelControl(f.model_control);
  if (!control.ok()) return BadFlag(control.status());
  std::vector<HouseWarning> warnings;
  auto models = InitialModels(f, &warnings);
  if (!models.ok()) return f.house.empty() ? BadFlag(models.status()) : Fail(models.status());
  boost::asio::io_context ioc(f.threads);
  RealTimeCore core(ioc.get_executor());  // before the engine, which posts to it
  auto engine = Engine::Create(std::move(options).value(), &core.clock, &core.runner);
  if (!engine.ok()) return Fail(engine.status());
  if (Status s = (*engine)->Apply(*models, {}, false); !s.ok()) return Fail(s);
  if (Status s = CheckAccess(f, *(*engine)->table()); !s.ok()) return Fail(s);
  std::unique_ptr<HouseLoader> loader;
  if (!f.house.empty()) {
    loader = std::make_unique<HouseLoader>(engine->get(), f.house, *control, Millis(f.poll_interval_s * 1000),
                                           warnings);
  }
  HttpServer::Options so;
  so.host = f.host;
  so.port = f.port;
  so.max_body_bytes = f.max_body_bytes;
  so.max_connections = f.max_connections;
  so.max_connections_per_client = f.max_connections_per_client;
  so.idle_timeout = Millis(f.idle_timeout_s * 1000);
  so.io_threads = f.threads;
  so.tls_cert = f.tls_cert;
  so.tls_key = f.tls_key;
  if (!f.metrics_address.empty()) {
    if (Status s = SplitAddress(f.metrics_address, &so.metrics_host, &so.metrics_port); !s.ok()) return BadFlag(s);
  }
  StatusOr<std::shared_ptr<ReplayStore>> store = OpenReplayStore(f);
  if (!store.ok()) return Fail(store.status());
  auto gate = std::make_shared<Gate>(Gate::Options{
      .insecure_dev = f.insecure_dev,
      .auth = {.window_s = f.auth_window_s,
               .max_nonces = f.replay_cache,
               .max_nonces_per_key = f.replay_cache_per_key,
               .shared = *store,
               .accept_when_store_down = f.replay_store_down == "accept"}});
  HttpServer server(so, engine->get(), loader.get(), gate, &ioc);
  if (Status s = server.Listen(); !s.ok()) return Fail(s);
  std::unique_ptr<GrpcServer> grpc;
  if (f.grpc_port >= 0) {
    GrpcServer::Options go;
    go.host = f.host;
    go.port = static_cast<uint16_t>(f.grpc_port);
    go.max_message_bytes = f.max_body_bytes;
    go.threads = f.threads;
    go.idle_timeout = Millis(f.idle_timeout_s * 1000);
    go.tls_cert = f.tls_cert;
    go.tls_key = f.tls_key;
    grpc = std::make_unique<GrpcServer>(go, engine->get(), gate, ioc.get_executor());
    if (Status s = grpc->Start(); !s.ok()) return Fail(s);
  }
  Edges edges{&server, grpc.get()};
  // Before the lines below announce the ports: a caller may signal as soon as it reads them.
  boost::asio::signal_set signals(ioc, SIGTERM, SIGINT);
  boost::asio::steady_timer drain_timer(ioc);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    edges.Unready();
    std::cerr << "tbms: signal " << sig << ", unready; draining in " << f.drain_delay_s << " s" << std::endl;
    drain_timer.expires_after(Millis(f.drain_delay_s * 1000));
    drain_timer.async_wait([&](const boost::system::error_code&) {
      edges.Drain();
      WaitDrained(drain_timer, edges, **engine, core, ioc, Millis(f.idle_timeout_s * 1000));
    });
  });

  std::string names;
  const auto table = (*engine)->table();
  for (const auto& [name, m] : table->models) names += (names.empty() ? "" : ", ") + name;
  std::cout << "tbms: serving " << table->models.size() << " models (" << names << ")"
            << (f.house.empty() ? "" : " from " + f.house + ", model control " + f.model_control)
            << " on " << (f.tls_cert.empty() ? "http" : "https") << "://" << f.host << ":" << server.port() << " with " << f.threads
            << " thread(s), policy " << f.policy
            << (f.insecure_dev ? ", NO authentication (--insecure-dev)" : ", signed requests only") << std::endl;
  if (grpc) {
    std::cout << "tbms: KServe v2 gRPC" << (f.tls_cert.empty() ? "" : " (TLS)") << " on " << f.host << ":"
              << grpc->port() << std::endl;
  }
  if (!so.metrics_host.empty()) {
    std::cout << "tbms: metrics, report and dashboard without keys on http://" << so.metrics_host << ":"
              << server.metrics_port() << std::endl;
  }

  std::unique_ptr<GpuTelemetry> gpus;
  boost::asio::steady_timer gpu_timer(ioc);
  std::string gpus_said;
  if (f.nvml_library != "off" && f.metrics) {
    auto loaded = GpuTelemetry::Load(f.nvml_library);
    if (loaded.ok()) {
      gpus = std::move(loaded).value();
      SampleGpus(gpu_timer, **engine, *gpus, gpus_said);
    } else if (HasGpus(**engine)) {
      std::cerr << "tbms: no GPU readings in the device metrics: " << loaded.status().message() << std::endl;
    }
  }

  server.Start();
  std::vector<std::thread> threads;
  for (int i = 1; i < f.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  loader.reset();  // before the engine: it applies changes to it
  return 0;
}

}  // namespace

void AddServe(CLI::App& app) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* cmd = app.add_subcommand("serve", "Run the TBMS server");
  cmd->add_option("--host", flags->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", flags->port, "Port to listen on (0: any free port)")->capture_default_str();
  cmd->add_option("--grpc-port", flags->grpc_port,
                  "Also serve the KServe v2 gRPC API (and grpc.health.v1) on this port of --host (0: any free "
                  "port); same keys, limits (--max-body-bytes per message) and TLS as HTTP")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--threads", flags->threads,
                  "I/O threads: the HTTP sessions' and, with --grpc-port, as many gRPC completion queues'")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--simulate", flags->simulate,
                  "Serve simulated models: NAME=MS[:PER_ITEM_MS],... e.g. "
                  "embedding=35,svm=25,bayes=15,keysearch=5 (MS: single-item service time; "
                  "PER_ITEM_MS: added per extra batch item, default MS/10)");
  cmd->add_option("--house", flags->house,
                  "Serve the model house in this folder (see docs/house.md; check it with tbms house check)")
      ->excludes("--simulate");
  cmd->add_option("--model-control", flags->model_control,
                  "With --house: none (load once), poll (rescan every --poll-interval-s and apply "
                  "changes), explicit (load/unload via /v2/repository/models/{m}/load|unload)")
      ->check(CLI::IsMember({"none", "poll", "explicit"}))->capture_default_str();
  cmd->add_option("--drain-delay-s", flags->drain_delay_s,
                  "On SIGTERM, report unready but keep serving this long before refusing new requests, so load "
                  "balancers and Kubernetes endpoints move traffic away first (at least their health-check "
                  "interval times the failures they need)")
      ->check(CLI::Range(0.0, 3600.0))->capture_default_str();
  cmd->add_option("--poll-interval-s", flags->poll_interval_s, "How often poll mode rescans the house")
      ->check(CLI::Range(0.05, 86400.0))->capture_default_str();
  for (CLI::Option* o : AddReplicasFlag(cmd, flags->replicas,
                                         "Replicas per --simulate model: copies that run batches at once "
                                         "(a house: replicas in model.toml)")) {
    o->check(CLI::Range(1, 100000))->capture_default_str();
  }
  cmd->add_option("--hang-rate", flags->hang_rate, "Share of --simulate executions that hang (10 s)")
      ->check(CLI::Range(0.0, 1.0))->capture_default_str();
  cmd->add_option("--max-pending", flags->max_pending, "Tries in flight at once (then 429)")
      ->check(CLI::Range(1, 10000000))->capture_default_str();
  cmd->add_option("--max-body-bytes", flags->max_body_bytes, "Largest request body (then 413)")
      ->check(CLI::Range(1024, 1 << 30))->capture_default_str();
  cmd->add_option("--max-connections", flags->max_connections,
                  "Open connections at once on the main address (at the cap the longest idle one is closed; "
                  "16 more may ask only for health)")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--max-connections-per-client", flags->max_connections_per_client,
                  "Open connections from one client address, an IPv6 one by its /64 (raise it behind a proxy)")
      ->check(CLI::Range(1, 1000000))->capture_default_str();
  cmd->add_option("--idle-timeout-s", flags->idle_timeout_s, "Close connections idle this long (HTTP: no request under way; gRPC: no call open)")
      ->check(CLI::Range(0.1, 3600.0))->capture_default_str();
  cmd->add_option("--metrics", flags->metrics,
                  "Count for /metrics, /v1/report and /dashboard (on/off)")
      ->check(CLI::IsMember({"on", "off"}))
      ->default_str("on");
  cmd->add_option("--policy", flags->policy,
                  "tbms (the broker), or a baseline for benchmarks: single (Triton-like), "
                  "default-on-miss (Clipper-like), drop-late (Clockwork-like)")
      ->capture_default_str();
  cmd->add_option("--core-lag-margin", flags->core_lag_margin,
                  "Tries plan to answer this many times the core's measured lag (tbms_core_lag_seconds) "
                  "before tloc, so answers leave in time when the server is short of CPU; 0: off")
      ->check(CLI::Range(0, 10))->capture_default_str();
  cmd->add_flag("--insecure-dev", flags->insecure_dev,
                "Serve without authentication (local experiments only; warns loudly at start-up)");
  cmd->add_option("--auth-window-s", flags->auth_window_s,
                  "How far a signed request's timestamp may be from the server's clock")
      ->check(CLI::Range(1, 3600))->capture_default_str();
  cmd->add_option("--replay-cache", flags->replay_cache,
                  "Nonces remembered within the window (about 68 bytes each); when full, signed requests get 503")
      ->check(CLI::Range(1, 100000000))->capture_default_str();
  cmd->add_option("--replay-cache-per-key", flags->replay_cache_per_key,
                  "Of those, how many one access id may hold (then 429), so one key cannot fill it for all")
      ->check(CLI::Range(1, 100000000))->capture_default_str();
  cmd->add_option("--replay-store", flags->replay_store,
                  "Redis (HOST:PORT or unix:PATH) holding every server's nonces, so a request accepted by one "
                  "server of a fleet is refused by the others and after a restart; see docs/security.md");
  cmd->add_option("--replay-store-down", flags->replay_store_down,
                  "When the replay store cannot answer: refuse signed requests (503) or accept them, guarded "
                  "by this server's cache alone")
      ->check(CLI::IsMember({"refuse", "accept"}))->capture_default_str();
  cmd->add_option("--replay-store-timeout-ms", flags->replay_store_timeout_ms,
                  "How long to wait for the replay store per connect and per request")
      ->check(CLI::Range(1, 10000))->capture_default_str();
  cmd->add_option("--metrics-address", flags->metrics_address,
                  "Also serve /metrics, /v1/report and /dashboard, without keys, on HOST:PORT (e.g. 127.0.0.1:9100)");
  cmd->add_option("--nvml-library", flags->nvml_library,
                  "The driver's NVML, read once a second for each GPU device's utilisation and memory "
                  "(tbms_device_gpu_*); off: none")
      ->capture_default_str();
  cmd->add_option("--tls-cert", flags->tls_cert,
                  "Serve HTTPS with this PEM certificate chain (with --tls-key); see docs/security.md")
      ->check(CLI::ExistingFile);
  cmd->add_option("--tls-key", flags->tls_key, "The PEM private key of --tls-cert")->check(CLI::ExistingFile);
  AddModelFlags(cmd, flags->model);
  cmd->callback([flags, cmd] {
    if (flags->simulate.empty() && flags->house.empty()) {
      std::cerr << "tbms serve: give --house DIR or --simulate MODELS (see tbms serve --help)\n";
      return SetExitCode(2);
    }
    if (Status s = CheckFlagsApply(*cmd, *flags); !s.ok()) {
      std::cerr << "tbms serve: " << s.message() << "\n";
      return SetExitCode(2);
    }
    SetExitCode(Serve(*flags));
  });
}

}  // namespace tbms::tools
