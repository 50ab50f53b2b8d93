#include "tbms/backends/simulated.h"

#include <algorithm>
#include <cmath>

#include "tbms/common/json_writer.h"
#include "tbms/common/tensor_json.h"

namespace tbms {

StatusOr<SimulatedExecutor::Jitter> ParseJitter(std::string_view name) {
  if (name == "none") return SimulatedExecutor::Jitter::kNone;
  if (name == "uniform") return SimulatedExecutor::Jitter::kUniform;
  if (name == "lognormal") return SimulatedExecutor::Jitter::kLognormal;
  return InvalidArgument("unknown jitter '" + std::string(name) +
                         "' (expected none, uniform or lognormal)");
}

StatusOr<std::unique_ptr<SimulatedExecutor>> SimulatedExecutor::Create(Options options,
                                                                       Clock* clock) {
  auto rate_ok = [](double r) { return r >= 0.0 && r <= 1.0; };
  if (clock == nullptr) return InvalidArgument("simulated executor needs a clock");
  if (options.base < Duration(0) || options.per_item < Duration(0)) {
    return InvalidArgument(options.model + ": service times must be >= 0");
  }
  if (!rate_ok(options.straggler_rate) || !rate_ok(options.failure_rate) ||
      !rate_ok(options.hang_rate)) {
    return InvalidArgument(options.model + ": rates must be in [0, 1]");
  }
  if (options.jitter_spread < 0.0 || options.straggler_factor < 1.0) {
    return InvalidArgument(options.model + ": jitter spread must be >= 0, straggler factor >= 1");
  }
  if (options.replicas < 1 || options.replicas > 100000) {
    return InvalidArgument(options.model + ": replicas must be in [1, 100000]");
  }
  return std::unique_ptr<SimulatedExecutor>(new SimulatedExecutor(std::move(options), clock));
}

SimulatedExecutor::SimulatedExecutor(Options options, Clock* clock)
    : options_(std::move(options)), clock_(clock), rng_(options_.seed), replicas_(options_.replicas) {}

Answer SimulatedExecutor::AnswerFor(const Inputs& in) const {
  std::string answer;
  if (options_.echo && !in.tensors.empty()) {
    AppendTensorData(in.tensors[0], answer, /*nested=*/true);
    return answer;
  }
  if (options_.score < 0) {
    AppendJsonString(answer, options_.model + " answer to: " + in.question);
    return answer;
  }
  JsonWriter w(answer);
  w.BeginObject().Key("answer").String(options_.model + " answer to: " + in.question);
  w.Key("score").Number(options_.score).EndObject();
  return answer;
}

void SimulatedExecutor::Run(int /*replica*/, const Batch& batch, Done done) {
  const int n = static_cast<int>(batch.items.size());
  double factor = 1.0;
  switch (options_.jitter) {
    case Jitter::kNone: break;
    case Jitter::kUniform:
      factor = std::uniform_real_distribution<double>(1.0 - options_.jitter_spread,
                                                      1.0 + options_.jitter_spread)(rng_);
      break;
    case Jitter::kLognormal:
      factor = std::lognormal_distribution<double>(0.0, options_.jitter_spread)(rng_);
      break;
  }
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  if (coin(rng_) < options_.straggler_rate) factor *= options_.straggler_factor;
  const bool hang = coin(rng_) < options_.hang_rate;
  const bool fail = !hang && coin(rng_) < options_.failure_rate;

  Duration service(static_cast<int64_t>(
      std::max(0.0, static_cast<double>(Nominal(n).count()) * factor)));
  if (hang) service = options_.hang_time;

  BatchResult result;
  result.service_time = service;
  result.answers.reserve(static_cast<size_t>(n));
  for (const auto& in : batch.items) {
    if (hang || fail) {
      result.answers.emplace_back(Unavailable(options_.model + (hang ? ": hung" : ": failed")));
      continue;
    }
    result.answers.emplace_back(AnswerFor(*in));
  }
  clock_->Schedule(clock_->Now() + service,
                   [open = open(), done = std::move(done), result = std::move(result)]() mutable {
                     if (open->load(std::memory_order_relaxed)) done(std::move(result));
                   });
}

}  // namespace tbms
