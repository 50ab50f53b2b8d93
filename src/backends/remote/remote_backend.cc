#include "tbms/backends/remote/remote_backend.h"

#include <simdjson.h>

#include <algorithm>

#include "tbms/common/json_writer.h"
#include "tbms/common/tensor_json.h"

namespace tbms {
namespace {

// Whether `text` is one JSON value (then it is an answer as it stands).
bool IsJson(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element e;
  return !text.empty() && parser.parse(text.data(), text.size()).get(e) == simdjson::SUCCESS;
}

std::string JsonString(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

// Row `i` of `t` (rows along its first dimension, `per_row` elements each) as one answer.
// `all`: a BYTES tensor's elements (read once per batch, not per row).
Answer RowAnswer(const Tensor& t, const std::vector<std::string_view>& all, size_t i, size_t per_row) {
  if (t.datatype == DataType::kBytes) {
    if (per_row == 1) return IsJson(all[i]) ? std::string(all[i]) : JsonString(all[i]);
    std::string out = "[";
    for (size_t k = 0; k < per_row; ++k) out += (k > 0 ? "," : "") + JsonString(all[i * per_row + k]);
    return out + "]";
  }
  Tensor row;
  row.datatype = t.datatype;
  row.shape = {static_cast<int64_t>(per_row)};
  const size_t size = DataTypeSize(t.datatype);
  row.data = t.data.substr(i * per_row * size, per_row * size);
  std::string out;
  AppendTensorData(row, out);
  if (per_row == 1) return out.substr(1, out.size() - 2);  // the number, not [number]
  return out;
}

}  // namespace

StatusOr<std::shared_ptr<RemoteBackend>> RemoteBackend::Create(const ModelConfig& model, Clock* clock) {
  std::vector<std::unique_ptr<RemoteTransport>> transports;
  for (const std::string& endpoint : model.remote.endpoints) {
    auto t = model.remote.protocol == "grpc" ? MakeGrpcTransport(model.remote, endpoint)
                                             : MakeHttpTransport(model.remote, endpoint);
    if (!t.ok()) return Status(t.status().code(), "model '" + model.name + "': " + t.status().message());
    transports.push_back(std::move(t).value());
  }
  return Create(model, clock, std::move(transports));
}

StatusOr<std::shared_ptr<RemoteBackend>> RemoteBackend::Create(
    const ModelConfig& model, Clock* clock, std::vector<std::unique_ptr<RemoteTransport>> transports) {
  const auto input = std::find_if(model.inputs.begin(), model.inputs.end(),
                                  [](const TensorSpec& t) { return t.datatype == DataType::kBytes; });
  if (input == model.inputs.end() || input->shape.empty()) {
    return InvalidArgument("model '" + model.name + "': a kserve model needs a BYTES input for the question, "
                           "its first dimension the batch (e.g. shape = [-1])");
  }
  if (model.outputs.empty()) return InvalidArgument("model '" + model.name + "': a kserve model needs an output");
  if (transports.size() != model.remote.endpoints.size() || transports.empty()) {
    return InvalidArgument("model '" + model.name + "': one transport per endpoint");
  }
  return std::shared_ptr<RemoteBackend>(new RemoteBackend(model, *input, clock, std::move(transports)));
}

RemoteBackend::RemoteBackend(const ModelConfig& model, const TensorSpec& input, Clock* clock,
                             std::vector<std::unique_ptr<RemoteTransport>> transports)
    : remote_(model.remote),
      model_(model.name),
      input_(input),
      output_(model.outputs.front()),
      clock_(clock),
      transports_(std::move(transports)),
      health_(transports_.size()) {}

Duration RemoteBackend::ExpectedFloor() const {
  const int64_t at = remote_expected_at_.load(std::memory_order_relaxed);
  if (at == kNone || clock_->Now() - TimePoint(Duration(at)) > kRemoteEstimateTtl) return Duration(0);
  return Duration(remote_expected_.load(std::memory_order_relaxed));
}

int RemoteBackend::healthy() const {
  MutexLock lock(&mu_);
  const TimePoint now = clock_->Now();
  return static_cast<int>(std::count_if(health_.begin(), health_.end(),
                                        [&](const Health& h) { return h.ejected_until <= now; }));
}

int RemoteBackend::Pick(bool* probe) {
  MutexLock lock(&mu_);
  const TimePoint now = clock_->Now();
  // The least loaded endpoint; ties go round the endpoints, so a light load
  // spreads too (and a worker just added takes calls at once).
  const size_t n = health_.size();
  int best = -1;
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (next_pick_ + k) % n;
    const Health& h = health_[i];
    if (h.ejected_until > now || h.probing) continue;
    if (best < 0 || h.in_flight < health_[static_cast<size_t>(best)].in_flight) best = static_cast<int>(i);
  }
  if (best < 0) return -1;
  next_pick_ = static_cast<size_t>(best) + 1;
  Health& h = health_[static_cast<size_t>(best)];
  *probe = h.failures >= remote_.eject_after;  // back from ejection: prove it is ready first
  h.probing = *probe;
  ++h.in_flight;
  return best;
}

void RemoteBackend::Finished(int endpoint, bool probed, Outcome outcome) {
  MutexLock lock(&mu_);
  Health& h = health_[static_cast<size_t>(endpoint)];
  --h.in_flight;
  if (probed) h.probing = false;  // a call out since before its ejection does not end the probe
  if (outcome == Outcome::kNeither) return;  // a probe that passed stays due: the next call probes again
  h.failures = outcome == Outcome::kServed ? 0 : h.failures + 1;
  if (h.failures >= remote_.eject_after) h.ejected_until = clock_->Now() + remote_.eject_for;
}

StatusOr<InferRequest> RemoteBackend::Request(const Batch& batch, Duration timeout) const {
  Tensor questions;
  questions.name = input_.name;
  questions.datatype = DataType::kBytes;
  questions.shape = input_.shape;
  questions.shape[0] = static_cast<int64_t>(batch.items.size());  // the first dimension is the batch
  for (size_t d = 1; d < questions.shape.size(); ++d) {
    if (questions.shape[d] != 1) {
      return InvalidArgument("model '" + model_ + "': input '" + input_.name + "' must hold one question per "
                             "item: its dimensions after the batch's must be 1");
    }
  }
  for (const auto& item : batch.items) questions.AppendString(item->question);
  InferRequest r;
  r.inputs.push_back(std::move(questions));
  r.outputs.push_back(output_.name);
  r.tloc = std::max<Duration>(Millis(1), std::chrono::floor<std::chrono::milliseconds>(timeout));
  return r;
}

std::vector<StatusOr<Answer>> RemoteBackend::Answers(const StatusOr<InferResponse>& response, size_t n,
                                                     const std::string& address) const {
  const auto fail = [&](const Status& s) {
    return std::vector<StatusOr<Answer>>(n, Status(s.code(), address + ": " + s.message()));
  };
  if (!response.ok()) return fail(response.status());
  const auto& outputs = response->outputs;
  auto it = std::find_if(outputs.begin(), outputs.end(), [&](const Tensor& t) { return t.name == output_.name; });
  if (it == outputs.end()) it = outputs.begin();
  if (it == outputs.end()) return fail(Internal("the remote answered no output"));
  if (it->datatype != output_.datatype) {
    return fail(Internal("the remote answered output '" + it->name + "' as " + std::string(DataTypeName(it->datatype)) +
                         ", not " + std::string(DataTypeName(output_.datatype)) + " as model.toml declares"));
  }
  const int64_t count = it->ElementCount();
  if (it->shape.empty() || it->shape[0] != static_cast<int64_t>(n) || (n > 0 && count % static_cast<int64_t>(n))) {
    return fail(Internal("the remote answered output '" + it->name + "' of shape " + ShapeText(it->shape) +
                         " for a batch of " + std::to_string(n)));
  }
  std::vector<StatusOr<Answer>> answers;
  answers.reserve(n);
  const std::vector<std::string_view> strings =
      it->datatype == DataType::kBytes ? it->Strings() : std::vector<std::string_view>{};
  for (size_t i = 0; i < n; ++i) answers.emplace_back(RowAnswer(*it, strings, i, static_cast<size_t>(count) / n));
  return answers;
}

std::vector<StatusOr<Answer>> RemoteBackend::Process(const Batch& batch) {
  const size_t n = batch.items.size();
  Duration timeout = batch.deadline == TimePoint::max() ? std::chrono::hours(1) : batch.deadline - clock_->Now();
  if (remote_.timeout > Duration::zero()) timeout = std::min(timeout, remote_.timeout);
  if (timeout <= Duration::zero()) {
    return std::vector<StatusOr<Answer>>(n, Status(StatusCode::kDeadlineExceeded, "the batch's deadline passed"));
  }
  StatusOr<InferRequest> request = Request(batch, timeout);
  if (!request.ok()) return std::vector<StatusOr<Answer>>(n, request.status());
  bool probe = false;
  const int e = Pick(&probe);
  if (e < 0) {
    return std::vector<StatusOr<Answer>>(
        n, Unavailable("no endpoint of model '" + model_ + "' takes calls now: each is ejected after failing, or "
                       "being probed (an ejected one is probed again after " +
                       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(remote_.eject_for).count()) +
                       " ms)"));
  }
  RemoteTransport& t = *transports_[static_cast<size_t>(e)];
  const std::string& address = remote_.endpoints[static_cast<size_t>(e)];
  if (probe) {
    if (Status ready = t.Ready(std::min(timeout, remote_.connect_timeout)); !ready.ok()) {
      Finished(e, probe, Outcome::kFailed);
      return std::vector<StatusOr<Answer>>(n, Unavailable(address + " is not ready: " + ready.message()));
    }
  }
  StatusOr<InferResponse> response = t.Infer(*request, timeout, &batch.abandoned);
  if (response.ok() && response->expected_now && remote_.share_estimates) {
    remote_expected_at_.store(clock_->Now().time_since_epoch().count(), std::memory_order_relaxed);
    remote_expected_.store(response->expected_now->count(), std::memory_order_relaxed);
  }
  if (!response.ok() && batch.abandoned.cancelled()) {  // given up by us (a remote's own CANCELLED is a failure)
    Finished(e, probe, Outcome::kNeither);
    return std::vector<StatusOr<Answer>>(n, SkippedTryOver());
  }
  std::vector<StatusOr<Answer>> answers = Answers(response, n, address);
  if (!response.ok() && response.status().code() == StatusCode::kInvalidArgument) {
    Finished(e, probe, Outcome::kNeither);
  } else {
    Finished(e, probe, !answers.empty() && answers[0].ok() ? Outcome::kServed : Outcome::kFailed);  // a malformed answer counts
  }
  return answers;
}

}  // namespace tbms
