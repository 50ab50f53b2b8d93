// The KServe v2 REST API (Open Inference Protocol) but for health, which the
// HTTP server answers itself: server metadata (/v2), model metadata and
// readiness (/v2/models/{m}[/versions/{v}][/ready]), inference (.../infer),
// and the repository extension (/v2/repository/index,
// /v2/repository/models/{m}/load|unload). Errors are {"error": "..."} with
// 400, 403, 404, 405, 500 or 503. An infer runs through the broker as a try of
// one candidate, so it has a deadline (parameters.tloc, default
// Options::default_tloc) and is batched with the model's tries.
// Thread-safe.
#pragma once

#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <string>
#include <string_view>

#include "tbms/server/engine.h"
#include "tbms/server/house_loader.h"
#include "tbms/server/v2_json.h"

namespace tbms {

// Who sent a request, as its signature proved (docs/security.md).
struct Caller {
  bool admin = false;    // an admin key: every endpoint, every instance
  std::string instance;  // an instance key: that instance's models, tasks and report

  // --insecure-dev, and the metrics address: no keys, everything open.
  static Caller Anyone() { return {true, {}}; }
};

struct HttpReply {
  int status = 200;
  std::string body;  // JSON; empty for a bodiless 200
};

class V2Api {
 public:
  struct Options {
    TensorLimits tensors;
    Duration default_tloc = std::chrono::seconds(10);
  };
  using Reply = std::function<void(HttpReply)>;
  // `loader` may be null (no house: the repository is read-only); `io` runs
  // the work of building responses, off the core lock.
  V2Api(Options options, Engine* engine, HouseLoader* loader, boost::asio::any_io_executor io);

  // True if `path` is one of its routes (else the caller answers 404).
  static bool Owns(std::string_view path);
  // Calls `reply` exactly once: at once, or from the core (infer) or the
  // loader's thread (load, unload). The repository needs an admin caller;
  // an instance's caller sees only the models it may use, and its infers
  // are counted under its instance.
  void Handle(const Caller& caller, std::string_view method, std::string_view path, std::string_view body,
              Reply reply) const;

 private:
  void Model(const Caller& caller, std::string_view method, std::string_view rest, std::string_view body,
             Reply reply) const;
  void Infer(const Caller& caller, const ServedModel& model, std::string_view version, std::string_view body,
             Reply reply) const;
  void Repository(std::string_view method, std::string_view rest, Reply reply) const;

  const Options options_;
  Engine* const engine_;
  HouseLoader* const loader_;
  const boost::asio::any_io_executor io_;
};

}  // namespace tbms
