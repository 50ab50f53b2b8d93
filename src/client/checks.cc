#include "checks.h"

#include <cmath>

#include "tbms/common/names.h"

namespace tbms::client {

Status CheckInstance(const std::string& instance) {
  if (IsValidName(instance)) return OkStatus();
  return InvalidArgument("instance must be " + std::string(kNameRule) + ", got '" + instance + "'");
}

StatusOr<std::optional<AccessKey>> CheckKey(const std::string& access_id, const std::string& access_key,
                                            const std::string& instance) {
  if (access_id.empty() && access_key.empty()) return std::optional<AccessKey>();
  if (access_id.empty()) return InvalidArgument("an access_key needs its access_id");
  if (access_key.empty()) return InvalidArgument("access_id '" + access_id + "' needs its access_key");
  if (!IsValidName(access_id)) return InvalidArgument("access_id must be " + std::string(kNameRule));
  return std::optional<AccessKey>(AccessKey{access_id, access_key, instance});
}

Status CheckRequestTimeout(double request_timeout_ms) {
  if (request_timeout_ms >= 0 && std::isfinite(request_timeout_ms)) return OkStatus();
  return InvalidArgument("request_timeout_ms must be >= 0 (0: the default)");
}

}  // namespace tbms::client
