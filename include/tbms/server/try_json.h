// The JSON edge of POST /v1/instances/{instance}/try: parses and validates a
// request into a TryRequest, and writes a TryResult. Field names and limits
// are documented in docs/api.md. Thread-safe (a parser per thread).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "tbms/broker/try.h"
#include "tbms/common/status.h"
#include "tbms/server/engine.h"

namespace tbms {

struct TryLimits {
  size_t max_candidates = 32;
  double max_tloc_ms = 600'000;     // 10 minutes
  double max_est_ms = 600'000;
  int max_cross_request = 16;
  int max_priority = 1000;          // priorities are in [-max, max]
  size_t max_question_bytes = 64 * 1024;
};

using FindModelFn = std::function<const ModelEntry*(std::string_view name)>;

// INVALID_ARGUMENT naming the offending field, or NOT_FOUND for an unknown
// model or version.
StatusOr<TryRequest> ParseTryRequest(std::string_view body, const FindModelFn& find,
                                     const TryLimits& limits = {});

// Appends the result as the response body.
void WriteTryResult(const TryResult& result, std::string& out);

// {"error": "<message>"}
std::string ErrorJson(std::string_view message);

}  // namespace tbms
