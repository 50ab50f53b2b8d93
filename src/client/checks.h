// The checks the REST and the gRPC client make of their options alike, so
// that both refuse the same things with the same words.
#pragma once

#include <optional>
#include <string>

#include "tbms/auth/signing.h"
#include "tbms/common/status.h"

namespace tbms::client {

// INVALID_ARGUMENT unless `instance` keeps the name rule.
Status CheckInstance(const std::string& instance);

// The key that signs every call: none when `access_id` and `access_key` are
// both empty; INVALID_ARGUMENT for one without the other, or an id outside
// the name rule.
StatusOr<std::optional<AccessKey>> CheckKey(const std::string& access_id, const std::string& access_key,
                                            const std::string& instance);

// INVALID_ARGUMENT unless request_timeout_ms is finite and >= 0 (0: the default).
Status CheckRequestTimeout(double request_timeout_ms);

}  // namespace tbms::client
