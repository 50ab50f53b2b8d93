// What a client sends to POST /v1/instances/{instance}/try and what it gets
// back (docs/api.md): the request as a struct and its JSON body, the
// response parsed into a TryResult (simdjson). Value types and pure
// functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/common/status.h"

namespace tbms::client {

// One ranked candidate: a served model or a house mix.
struct Candidate {
  std::string name = "";
  std::optional<double> est_ms = std::nullopt;  // the caller's latency estimate; absent: the model's own
  std::optional<std::string> version = std::nullopt;  // pins a version; absent: A/B split, else the latest
};

// An ad hoc mix: its members answer together, combined by the aggregator.
struct Mix {
  std::string name = "";
  std::vector<Candidate> members = {};
  std::string aggregator = "max";  // "max", "avg" or "vote"
};

// Exactly one of `models`, `mixes` and `task` names the candidates (the
// server refuses anything else with INVALID_ARGUMENT). Unset options take
// the task's defaults, else the server's (docs/api.md).
struct TryRequest {
  std::string question = "";
  std::vector<Candidate> models = {};  // best first
  std::vector<Mix> mixes = {};    // best first
  std::string task = "";          // a task of the instance (instances.toml)
  std::optional<double> tloc_ms = std::nullopt;  // the time budget; required unless the task gives it
  std::optional<int> cross_request = std::nullopt;  // extra attempts allowed in flight, [0, 16]
  std::optional<double> cross_lag_ms = std::nullopt;  // minimum time between launches
  std::optional<int> priority = std::nullopt;  // [-1000, 1000], higher is served first
  std::string hedge = "";  // when fallbacks launch: "at_risk" or "expected"; empty: the task's or at_risk
};

// The JSON try's "mixes" array (as the gRPC try's mixes parameter carries it too).
std::string MixesJson(const std::vector<Mix>& mixes);

// POST's target: /v1/instances/{instance}/try.
std::string TryTarget(std::string_view instance);

// The JSON body of the try: {"inputs": {"question": ...}, "models" |
// "mixes" | "task", then tloc, crossRequest, crossLag, priority, hedge when set.
std::string TryBody(const TryRequest& request);

// How long a client waits for a try's response unless told: tloc + 1000
// ms (11 s without tloc, which the task then gives).
double TryTimeoutMs(const TryRequest& request);

// One candidate launched or skipped.
struct Attempt {
  std::string model;
  std::optional<std::string> version;
  int rank = 0;
  std::string state;  // succeeded, failed, dropped_late, cancelled or skipped
  double started_ms = 0;  // from the start of the try
  double latency_ms = 0;  // launch to outcome
  std::optional<std::string> error;  // failed or dropped late: why (a remote's "connection refused", ...)
};

struct TryResult {
  std::optional<std::string> answer;  // the answer as JSON text; nullopt: no answer in time
  std::string answer_text;  // for people: a string answer's characters, else the JSON text; "" with none
  std::string model;        // who answered; "" with no answer
  std::optional<std::string> version;  // absent for a mix, or with no answer
  int rank = -1;            // -1 with no answer
  bool downgraded = false;  // answered below rank 0
  std::string reason;       // why rank 0 did not answer (or why none did); "" when rank 0 answered
  double elapsed_ms = 0;    // receipt to answer, as the broker saw it
  std::vector<Attempt> attempts;
};

// A 200 response's body; INTERNAL when it is not JSON or has no "answer".
// Fields the body lacks keep their defaults.
StatusOr<TryResult> ParseTryResult(std::string_view body);

}  // namespace tbms::client
