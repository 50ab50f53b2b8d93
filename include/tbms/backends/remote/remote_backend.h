// RemoteBackend: a model served by another KServe v2 server — Triton,
// KServe, MLServer, another TBMS — reached over REST or gRPC (backend =
// "kserve" with a [remote] table, docs/house.md "Remote models").
//
// It runs on a ThreadPoolExecutor: one replica thread per batch in flight
// (endpoints x in_flight), each blocking on its call, so the service time
// the broker learns is the remote round trip. A batch goes out as one infer:
// the questions fill the model's first BYTES input, the first dimension of
// its declared shape being the batch; the first declared output comes back
// with one row per item (a BYTES element that is JSON is the answer as is,
// any other element a JSON string; a numeric row a JSON array or number).
// The call's deadline is the batch's (and the remote's tloc parameter); a
// call is cancelled as its batch's tries all end (answered elsewhere, or
// past their deadline: Batch::abandoned), over either protocol.
//
// Endpoints: each call goes to the healthy endpoint with the fewest calls in
// flight; eject_after consecutive failures or timeouts take an endpoint out
// for eject_for, after which it takes calls again once a readiness probe
// passes. A failed call fails its items (the broker launches the next
// candidate at once, rule 5); with every endpoint out, items fail at once.
// Thread safety: Process is safe for concurrent use.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/backends/thread_pool_executor.h"
#include "tbms/common/mutex.h"
#include "tbms/house/config.h"
#include "tbms/kserve/infer.h"

namespace tbms {

// One endpoint over one protocol. Blocking; safe for concurrent use.
class RemoteTransport {
 public:
  virtual ~RemoteTransport() = default;
  // One infer within `timeout`, stopped when `abandoned` (when given) is
  // cancelled, because nobody waits for its answer any more (gRPC: the RPC
  // is cancelled; REST: the connection is shut), answering CANCELLED.
  virtual StatusOr<InferResponse> Infer(const InferRequest& request, Duration timeout,
                                        const Cancellation* abandoned) = 0;
  // Whether the endpoint's model is ready (its readiness probe).
  virtual Status Ready(Duration timeout) = 0;
};

// The transport for `endpoint` (HOST:PORT) by remote.protocol; INVALID_ARGUMENT
// for what cannot be set up (a CA file that cannot be read, say).
StatusOr<std::unique_ptr<RemoteTransport>> MakeHttpTransport(const RemoteConfig& remote, const std::string& endpoint);
StatusOr<std::unique_ptr<RemoteTransport>> MakeGrpcTransport(const RemoteConfig& remote, const std::string& endpoint);

class RemoteBackend final : public Backend {
 public:
  // `clock` reads the time batch deadlines are on (off the core: real time).
  static StatusOr<std::shared_ptr<RemoteBackend>> Create(const ModelConfig& model, Clock* clock);
  // With transports made elsewhere (tests), one per endpoint of model.remote.
  static StatusOr<std::shared_ptr<RemoteBackend>> Create(const ModelConfig& model, Clock* clock,
                                                         std::vector<std::unique_ptr<RemoteTransport>> transports);

  std::vector<StatusOr<Answer>> Process(const Batch& batch) override;
  // The last word of a TBMS worker on what a new request takes there
  // (InferResponse::expected_now), for kRemoteEstimateTtl after it came;
  // 0 when none is that fresh, or remote.share_estimates is off.
  Duration ExpectedFloor() const override;
  bool StopsAbandonedWork() const override { return true; }  // the call is cancelled
  // An estimate older than this is not used: a broker that stopped calling a
  // busy worker would otherwise never hear it is free again.
  static constexpr Duration kRemoteEstimateTtl = std::chrono::seconds(1);

  // Endpoints taking calls now (not ejected).
  int healthy() const;

 private:
  // What calls learn of an endpoint.
  struct Health {
    int in_flight = 0;
    int failures = 0;  // consecutive
    TimePoint ejected_until = TimePoint::min();
    bool probing = false;  // its readiness probe is under way: other calls go elsewhere
  };
  RemoteBackend(const ModelConfig& model, const TensorSpec& input, Clock* clock,
                std::vector<std::unique_ptr<RemoteTransport>> transports);
  // The endpoint for the next call (counted in flight; *probe: probe it
  // first), or -1 when none is healthy.
  int Pick(bool* probe) EXCLUDES(mu_);
  // How a call went, for its endpoint's health: kNeither for a call we gave
  // up (the batch abandoned) or a request the remote refused as malformed,
  // which every endpoint would refuse alike: no mark either way.
  enum class Outcome { kServed, kFailed, kNeither };
  void Finished(int endpoint, bool probed, Outcome outcome) EXCLUDES(mu_);
  StatusOr<InferRequest> Request(const Batch& batch, Duration timeout) const;
  // One answer per item from the remote's response; failures name `address`.
  std::vector<StatusOr<Answer>> Answers(const StatusOr<InferResponse>& response, size_t n,
                                        const std::string& address) const;

  const RemoteConfig remote_;
  const std::string model_;          // this model's name, for messages
  const TensorSpec input_, output_;  // the question's input and the answer's output
  Clock* const clock_;
  const std::vector<std::unique_ptr<RemoteTransport>> transports_;  // one per remote_.endpoints
  // The latest expected_now and when it came (ticks of Duration; kNone: none).
  static constexpr int64_t kNone = INT64_MIN;
  std::atomic<int64_t> remote_expected_{0};
  std::atomic<int64_t> remote_expected_at_{kNone};
  mutable Mutex mu_;  // one pick and one finish per call
  std::vector<Health> health_ GUARDED_BY(mu_);
  size_t next_pick_ GUARDED_BY(mu_) = 0;  // where Pick starts looking: ties go round the endpoints
};

}  // namespace tbms
