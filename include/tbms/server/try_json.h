// The JSON edge of POST /v1/instances/{instance}/try: parses and validates a
// request into a TryRequest, and writes a TryResult. Field names and limits
// are documented in docs/api.md. Thread-safe (a parser per thread).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "tbms/common/json_writer.h"
#include "tbms/common/status.h"
#include "tbms/server/try_fields.h"

namespace tbms {

// Parses a try against `table` (which the request then holds, see
// TryRequest::owner) for `instance`: candidates from "models", "mixes" or a
// "task" of the instance (whose tloc, crossRequest, crossLag and priority the
// try may override). INVALID_ARGUMENT naming the offending field; NOT_FOUND
// for an unknown instance, model, version or task; PERMISSION_DENIED for a
// model the instance may not use; UNAVAILABLE for a model not loaded.
StatusOr<ParsedTry> ParseTryRequest(std::string_view body, std::shared_ptr<const ModelTable> table,
                                    std::string_view instance, const TryLimits& limits = {});

// A gRPC try's parameters.mixes: the JSON text of the JSON try's "mixes"
// array. Adds its candidates to `request`; `*owner` then keeps the names
// they point to and `table` (the request holds it, see TryRequest::owner).
Status ParseMixesJson(std::string_view json, std::shared_ptr<const ModelTable> table, const InstanceConfig* instance,
                      const TryLimits& limits, std::shared_ptr<const void>* owner, TryRequest* request);

// Appends the result as the response body.
void WriteTryResult(const TryResult& result, std::string& out);
// Its "attempts": [{"model", "version"?, "rank", "state", "started_ms", "latency_ms"}, ...].
void WriteAttempts(const std::vector<AttemptReport>& attempts, JsonWriter& w);

// {"error": "<message>"}
std::string ErrorJson(std::string_view message);

}  // namespace tbms
