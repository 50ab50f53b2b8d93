// WorkerLink: a broker's remote model in the simulated Kubernetes topology,
// doing on the virtual clock what RemoteBackend does over the network to TBMS
// workers behind a headless Service.
//
// Each call carries one question (the broker's batcher runs it with max batch
// 1, as house_split writes the broker house) to the worker with the fewest
// calls in flight, ties in turn (RemoteBackend::Pick), as a one-candidate try
// whose tloc is the batch's time left when it is sent (the call's timeout).
// Half the round trip later the worker's broker takes it; its answer, or its
// null, is back half a round trip after that. Every answer carries the
// worker's expected time for a new request (the v2 response's expected_now),
// which floors this broker's predictions for RemoteBackend::kRemoteEstimateTtl.
// A call whose try the broker has given up on still runs on the worker: the
// simulation does not cancel it (a real cancelled RPC saves that work, so
// this is the pessimistic side). Thread-compatible, like the virtual clock.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tbms/backends/executor.h"
#include "tbms/batching/model_queue.h"
#include "tbms/broker/broker.h"
#include "tbms/common/virtual_clock.h"

namespace tbms {

class WorkerLink final : public Executor {
 public:
  struct Worker {
    Broker* broker = nullptr;
    ModelQueue* queue = nullptr;  // the model's batcher there
  };
  WorkerLink(std::string model, std::vector<Worker> workers, int in_flight, Duration round_trip, Duration est,
             VirtualClock* clock);

  int replicas() const override { return in_flight_; }
  void Run(int replica, const Batch& batch, Done done) override;
  Duration ExpectedFloor() const override;

 private:
  size_t Pick();
  // On the worker, half a round trip after the call left the broker at `sent`.
  void Send(size_t worker, TimePoint sent, Duration timeout, size_t items, Done done);

  const std::string model_;
  const std::vector<Worker> workers_;
  const int in_flight_;
  const Duration half_trip_, est_;
  VirtualClock* const clock_;
  std::vector<int> calls_;  // per worker, in flight
  size_t next_ = 0;         // where ties start
  bool heard_ = false;  // a worker has answered: expected_ holds its word
  Duration expected_{0};
  TimePoint expected_at_{};
  const std::shared_ptr<const Inputs> question_ = std::make_shared<const Inputs>("q");
};

}  // namespace tbms
