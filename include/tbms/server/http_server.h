// HttpServer: the HTTP/1.1 edge (Boost.Beast), keep-alive, one coroutine per
// connection on an io_context run by `threads` threads.
//
// Routes: POST /v1/instances/{instance}/try, GET /v2/health/live,
// GET /v2/health/ready, the rest of KServe v2 (see v2_api.h), /metrics,
// /v1/report, /dashboard. Every error is {"error": "..."} with a 4xx/5xx status.
// Every request but health and the dashboard's files must be signed by an
// access key (docs/security.md): 401 when the signature is missing or
// wrong, 403 when the key does not open what it asks for. An instance's
// key opens that instance's tries, the models it may use and its part of
// /v1/report; an admin key opens everything. An optional second address
// serves /metrics, /v1/report and /dashboard without keys.
// Limits: header and body size, connections, idle time (each with a clear
// error or close). Drain(): readiness goes false and new tries get 503 (the
// listener stays open so probes see it); tries in flight finish by their
// deadlines; the owner stops the io_context once nothing is in flight.
// Thread safety: safe for concurrent use; Drain may be called from any thread.
#pragma once

#include <utility>  // before Asio (see real_clock.h)

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>

#include "tbms/common/status.h"
#include "tbms/server/connection_table.h"
#include "tbms/server/engine.h"
#include "tbms/server/gate.h"
#include "tbms/server/try_json.h"
#include "tbms/server/v2_api.h"

namespace tbms {

class HttpServer {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    uint16_t port = 8000;  // 0: any free port (see port())
    size_t max_body_bytes = 1 << 20;
    size_t max_header_bytes = 16 << 10;
    size_t max_connections = 4096;             // on the main address (then the longest idle is closed)
    size_t max_connections_per_client = 1024;  // from one client address
    size_t max_metrics_connections = 256;      // on the metrics address, a cap of its own
    Duration idle_timeout = std::chrono::seconds(30);
    int io_threads = 1;  // threads running the io_context; with one, connections need no strand
    TryLimits limits;
    V2Api::Options v2;
    std::string metrics_host;  // empty: no metrics address
    uint16_t metrics_port = 0;  // 0: any free port (see metrics_port())
    std::string tls_cert, tls_key;  // PEM files: the main address speaks TLS (the metrics address does not)
  };
  // `loader` may be null: a server without a model house. `gate` is shared
  // with the server's other edges.
  HttpServer(Options options, Engine* engine, HouseLoader* loader, std::shared_ptr<Gate> gate,
             boost::asio::io_context* ioc);

  // Binds and listens; INVALID_ARGUMENT or UNAVAILABLE with the OS's reason.
  Status Listen();
  uint16_t port() const { return main_.port; }
  uint16_t metrics_port() const { return metrics_.port; }
  // Starts accepting (call once, after Listen).
  void Start();
  // Readiness false while still serving, so load balancers and probes move
  // traffic away before Drain refuses it. One-way.
  void Unready();
  // Stops admitting: readiness false, new tries get 503. One-way.
  void Drain();
  bool draining() const { return state_->draining.load(); }
  // Requests being handled right now.
  size_t active_requests() const { return state_->active.load(); }

 private:
  template <class Stream>
  class Session;
  // What sessions share with the server; co-owned, so a session destroyed
  // after the server (with the io_context) still finds it.
  struct State {
    State(Options o, Engine* e, HouseLoader* loader, std::shared_ptr<Gate> g, boost::asio::any_io_executor io)
        : options(std::move(o)), engine(e), v2(options.v2, e, loader, std::move(io)), gate(std::move(g)) {}
    const Options options;
    Engine* const engine;
    const V2Api v2;
    const std::shared_ptr<Gate> gate;
    std::shared_ptr<boost::asio::ssl::context> tls;  // set by Listen; null: plain HTTP
    std::atomic<bool> unready{false};   // one-way
    std::atomic<bool> draining{false};  // one-way
    std::atomic<size_t> active{0};
    ConnectionTable main_connections{{.max_open = options.max_connections,
                                      .max_per_client = options.max_connections_per_client}};
    ConnectionTable metrics_connections{{.max_open = options.max_metrics_connections,
                                         .max_per_client = options.max_metrics_connections}};
  };
  // A listening address; used only on the io threads after Listen.
  struct Listener {
    Listener(boost::asio::io_context& ioc, bool metrics_only)
        : acceptor(ioc), retry(ioc), metrics_only(metrics_only) {}
    boost::asio::ip::tcp::acceptor acceptor;
    boost::asio::steady_timer retry;  // backs off after a failed accept
    const bool metrics_only;  // its sessions answer only the report routes, unsigned
    uint16_t port = 0;
  };
  void Accept(Listener& listener);

  const std::shared_ptr<State> state_;
  boost::asio::io_context* const ioc_;
  Listener main_, metrics_;
};

// Maps a canonical status to its HTTP status code.
int HttpStatusOf(StatusCode code);

}  // namespace tbms
