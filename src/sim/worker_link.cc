#include "worker_link.h"

#include <algorithm>

#include "tbms/backends/remote/remote_backend.h"

namespace tbms {

WorkerLink::WorkerLink(std::string model, std::vector<Worker> workers, int in_flight, Duration round_trip,
                       Duration est, VirtualClock* clock)
    : model_(std::move(model)),
      workers_(std::move(workers)),
      in_flight_(in_flight),
      half_trip_(round_trip / 2),
      est_(est),
      clock_(clock),
      calls_(workers_.size(), 0) {}

Duration WorkerLink::ExpectedFloor() const {
  if (!heard_ || clock_->Now() - expected_at_ > RemoteBackend::kRemoteEstimateTtl) return Duration(0);
  return expected_;
}

size_t WorkerLink::Pick() {
  size_t best = next_;
  for (size_t k = 1; k < workers_.size(); ++k) {
    const size_t w = (next_ + k) % workers_.size();
    if (calls_[w] < calls_[best]) best = w;
  }
  next_ = (best + 1) % workers_.size();
  return best;
}

void WorkerLink::Run(int /*replica*/, const Batch& batch, Done done) {
  const TimePoint now = clock_->Now();
  const size_t n = batch.items.size();  // 1: the broker's batcher sends one question per call
  const Duration timeout = batch.deadline == TimePoint::max() ? std::chrono::hours(1) : batch.deadline - now;
  if (timeout <= Duration(0)) {  // as RemoteBackend: no call once the deadline has passed
    clock_->Schedule(now, [open = open(), n, done = std::move(done)] {
      if (open->load(std::memory_order_relaxed)) done(BatchResult{Duration(0), std::vector<StatusOr<Answer>>(
                                        n, Status(StatusCode::kDeadlineExceeded, "the batch's deadline passed"))});
    });
    return;
  }
  const size_t w = Pick();
  ++calls_[w];
  clock_->Schedule(now + half_trip_, [this, open = open(), w, now, timeout, n, done = std::move(done)]() mutable {
    if (open->load(std::memory_order_relaxed)) Send(w, now, timeout, n, std::move(done));
  });
}

void WorkerLink::Send(size_t w, TimePoint sent, Duration timeout, size_t n, Done done) {
  TryRequest request;
  request.inputs = question_;
  request.AddModel(model_, workers_[w].queue, est_);
  request.tloc = std::min(timeout, limits::kMaxTloc);
  request.cross_request = 0;
  // Shared with the refusal below: `done` runs exactly once, whichever way.
  auto finish = std::make_shared<Done>(std::move(done));
  auto answered = [this, open = open(), w, n, sent, finish](TryResult r) {
    if (!open->load(std::memory_order_relaxed)) return;
    // Read on the worker as it answers, as its v2 edge does.
    const Duration expected_now = workers_[w].queue->Predict(0, est_).expected;
    clock_->Schedule(clock_->Now() + half_trip_, [this, open, w, n, sent, expected_now, finish, r = std::move(r)] {
      if (!open->load(std::memory_order_relaxed)) return;
      --calls_[w];
      expected_ = expected_now;
      expected_at_ = clock_->Now();
      heard_ = true;
      BatchResult result{clock_->Now() - sent, {}};
      for (size_t i = 0; i < n; ++i) {
        if (r.answer) {
          result.answers.emplace_back(*r.answer);
        } else {
          result.answers.emplace_back(DeadlineExceeded("worker " + std::to_string(w) + " gave no answer (" +
                                                       std::string(ReasonName(r.reason)) + ")"));
        }
      }
      (*finish)(std::move(result));
    });
  };
  if (Status s = workers_[w].broker->Submit(std::move(request), std::move(answered)); !s.ok()) {
    // Unreachable (the request is well formed, the worker's max_pending is huge), but never lose a call.
    clock_->Schedule(clock_->Now() + half_trip_, [this, open = open(), w, n, s, finish] {
      if (!open->load(std::memory_order_relaxed)) return;
      --calls_[w];
      (*finish)(BatchResult{Duration(0), std::vector<StatusOr<Answer>>(n, s)});
    });
  }
}

}  // namespace tbms
