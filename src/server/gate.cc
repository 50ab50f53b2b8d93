#include "tbms/server/gate.h"

#include <chrono>

namespace tbms {

StatusOr<Caller> Gate::Authenticate(const Verifier::Request& request, const ModelTable& table) {
  if (options_.insecure_dev) return Caller::Anyone();
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch());
  StatusOr<const AccessKey*> key = verifier_.Verify(request, table.access->keys, now.count());
  if (!key.ok()) return key.status();
  return Caller{(*key)->admin(), (*key)->instance};
}

Status Gate::TakeQuota(const InstanceConfig* instance, std::string* taken, int* retry_after_s) {
  taken->clear();
  if (instance == nullptr || (instance->max_concurrent == 0 && instance->max_rps == 0)) return OkStatus();
  *retry_after_s = 1;
  TBMS_RETURN_IF_ERROR(quotas_.Acquire(*instance, retry_after_s));
  *taken = instance->name;
  return OkStatus();
}

}  // namespace tbms
