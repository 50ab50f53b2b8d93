// GrpcServer: the KServe v2 gRPC edge (proto/kserve/grpc_service.proto) over
// the same engine, V2Api calls and Gate (keys, replay cache, quotas) as the
// REST edge, plus the standard gRPC health service (grpc.health.v1) for
// Kubernetes probes. docs/api.md, "gRPC".
//
// RPCs: ServerLive and ServerReady and health are unsigned, as REST's
// /v2/health/*; ServerMetadata, ModelMetadata, ModelReady and ModelInfer
// must be signed: the `authorization` metadata carries the REST header's
// value, signed over method POST, target the RPC's path (e.g.
// /inference.GRPCInferenceService/ModelInfer) and body the request
// message's bytes as sent. A ModelInfer of model "try" is a try (try_proto.h).
// A call's gRPC deadline caps its tloc. Errors are gRPC status codes (the
// canonical codes of Status); a message over max_message_bytes gets
// RESOURCE_EXHAUSTED from gRPC itself.
//
// RPCs are served on completion queues, each with its own thread (Options::
// threads): a call is read, checked and submitted there, and answered there
// too when the engine answered at once, else from the io executor; never from
// the core's context. (gRPC's callback API hands every call between its own
// threads: 2x the CPU per call on a small machine; docs/benchmarks.md.)
// Thread safety: safe for concurrent use; Drain and Shutdown from any thread.
#pragma once

#include <utility>  // before Asio (see real_clock.h)

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "tbms/common/status.h"
#include "tbms/common/time.h"
#include "tbms/server/engine.h"
#include "tbms/server/gate.h"
#include "tbms/server/try_fields.h"
#include "tbms/server/v2_api.h"

namespace grpc {
class Server;
class ServerCompletionQueue;
}

namespace tbms {

class GrpcServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 8001;  // 0: any free port (see port())
    size_t max_message_bytes = 1 << 20;
    int max_streams_per_connection = 1024;  // RPCs at once on one connection
    int threads = 1;  // completion queues, one thread each
    // A connection with no call open this long is closed (GOAWAY; a client
    // reconnects when it next calls), so idle clients cannot pile up.
    Duration idle_timeout = std::chrono::seconds(30);
    TryLimits limits;
    V2Api::Options v2;
    std::string tls_cert, tls_key;  // PEM files: serve TLS
  };
  // `io` builds infer and try responses; `gate` is shared with the other edges.
  GrpcServer(Options options, Engine* engine, std::shared_ptr<Gate> gate, boost::asio::any_io_executor io);
  ~GrpcServer();

  // Binds and starts serving: INVALID_ARGUMENT (TLS files) or UNAVAILABLE
  // (the address) with the reason.
  Status Start();
  uint16_t port() const { return port_; }
  // Readiness and health NOT_SERVING while still serving (see HttpServer::Unready). One-way.
  void Unready();
  // Stops admitting: readiness and health NOT_SERVING, new infers UNAVAILABLE. One-way.
  void Drain();
  // Stops the server: health watches are told NOT_SERVING and cancelled,
  // other calls still open cancelled after a second; returns when each has
  // ended. Again: does nothing.
  void Shutdown();
  // Calls with their request in, until answered (health watches are not).
  size_t active_requests() const;
  // Every call taken and not yet ended, watches and calls still reading too.
  size_t open_calls() const;

 private:
  struct State;
  class Call;
  // A queue's thread: every operation of its calls completes there.
  static void ServeQueue(const std::shared_ptr<State>& state, grpc::ServerCompletionQueue* queue);
  void StopQueues();  // shuts the queues down and joins their threads

  const std::shared_ptr<State> state_;
  std::unique_ptr<grpc::Server> server_;
  uint16_t port_ = 0;
};

}  // namespace tbms
