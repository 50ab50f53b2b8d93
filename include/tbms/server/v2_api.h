// The KServe v2 API (Open Inference Protocol) but for health, as typed
// calls: server metadata, model metadata and readiness, inference, and the
// repository extension (index, load, unload). Each call returns a Status
// with a canonical code and a typed reply; the HTTP edge (http_server.cc)
// routes /v2/... to them, writes the replies as JSON and maps the codes to
// HTTP statuses, so a gRPC edge can reuse the same calls. An infer runs
// through the broker as a try of one candidate, so it has a deadline
// (parameters.tloc, default Options::default_tloc) and is batched with the
// model's tries.
//
// A request reads one table snapshot throughout: the caller takes it (the
// edge has it already, to check the request's key) and passes it to every
// call of that request.
// Thread safety: safe for concurrent use.
#pragma once

#include <utility>  // before Asio (see real_clock.h)

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/server/engine.h"
#include "tbms/server/gate.h"
#include "tbms/server/house_loader.h"
#include "tbms/kserve/v2_json.h"

namespace tbms {

struct ServerMetadata {
  std::string name, version;
  std::vector<std::string> extensions;
};

struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;  // the loaded ones (only the one asked for, if any)
  std::string platform;               // "tbms_<backend>"
  std::vector<TensorSpec> inputs, outputs;
  std::map<std::string, std::string> labels;  // model.toml's labels (docs/house.md)
};

// Whether a model (version) can take infers, and if not, why.
struct ModelReadiness {
  bool ready = false;
  std::string reason;  // when not ready
};

// A model as one request names it, in that request's table snapshot; valid
// while the snapshot is held.
struct ModelRef {
  const ServedModel* model = nullptr;
  std::string version;  // empty: the model's A/B routing picks one
};

class V2Api {
 public:
  struct Options {
    TensorLimits tensors;  // what the edge's infer parser allows
    Duration default_tloc = std::chrono::seconds(10);
  };
  using InferDone = std::function<void(StatusOr<InferResponse>)>;
  using Done = std::function<void(Status)>;
  // `loader` may be null (no house: the repository is read-only); `io` runs
  // the work of building infer responses, off the core lock.
  V2Api(Options options, Engine* engine, HouseLoader* loader, boost::asio::any_io_executor io);

  const Options& options() const { return options_; }

  static ServerMetadata Server();

  // PERMISSION_DENIED when an instance's caller may not use `model` (an
  // admin, or an instance the table does not declare, may use any).
  static Status CheckAccess(const Caller& caller, const ModelTable& table, std::string_view model);
  // The model (and version) a request names: PERMISSION_DENIED (see
  // CheckAccess), UNAVAILABLE when it is in the house but not ready (with
  // the reason), NOT_FOUND when it is unknown or has no such version loaded.
  StatusOr<ModelRef> Find(const Caller& caller, const ModelTable& table, std::string_view model,
                          std::string_view version) const;
  static ModelMetadata Metadata(const ModelRef& model);
  // Not ready (with the reason) where Find gives UNAVAILABLE or a missing
  // version; Find's other errors as they are.
  StatusOr<ModelReadiness> Ready(const Caller& caller, const ModelTable& table, std::string_view model,
                                 std::string_view version) const;
  // Runs `request` on `model` of `table`. Calls `done` exactly once: at once
  // with INVALID_ARGUMENT (inputs or outputs that are not the model's) or
  // the engine's refusal, or with the response, UNAVAILABLE (no answer in
  // time) or INTERNAL (the model failed, or its answer does not fit an
  // output): inside Infer when the engine answered at once, else later on
  // an io thread, never in the core's context. Infers of an instance's
  // caller are counted under its instance.
  void Infer(const Caller& caller, std::shared_ptr<const ModelTable> table, const ModelRef& model,
             InferRequest request, InferDone done) const;

  // The repository extension needs an admin caller: PERMISSION_DENIED else.
  static Status CheckAdmin(const Caller& caller);
  StatusOr<std::vector<ModelState>> Index(const Caller& caller) const;
  // Call `done` exactly once, from the loader's thread, or at once with
  // PERMISSION_DENIED, FAILED_PRECONDITION (no house) or the loader's refusal.
  void Load(const Caller& caller, std::string model, Done done) const;
  void Unload(const Caller& caller, std::string model, Done done) const;
  // Hot plug, admins only (ModelManager::SetDeviceUp, SetReplicas): on the
  // loader's thread where the server has a house, else at once.
  void SetDeviceUp(const Caller& caller, std::string device, bool up, Done done) const;
  void SetReplicas(const Caller& caller, std::string model, int count, Done done) const;

 private:
  void Change(const Caller& caller, std::function<Status()> change, Done done) const;
  const Options options_;
  Engine* const engine_;
  HouseLoader* const loader_;
  const boost::asio::any_io_executor io_;
};

}  // namespace tbms
