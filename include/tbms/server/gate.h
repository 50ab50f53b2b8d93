// Gate: what every edge (REST, gRPC) checks a request against before it
// reaches the engine: the signature that proves who sent it (one replay
// cache, so a nonce spent on one edge is spent on all) and the quotas of
// the caller's instance (one count across edges). docs/security.md.
// Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tbms/auth/verifier.h"
#include "tbms/common/status.h"
#include "tbms/server/model_table.h"
#include "tbms/server/quotas.h"

namespace tbms {

// Who sent a request, as its signature proved.
struct Caller {
  bool admin = false;    // an admin key: every endpoint, every instance
  std::string instance;  // an instance key: that instance's models, tasks and report

  // --insecure-dev, and the metrics address: no keys, everything open.
  static Caller Anyone() { return {true, {}}; }
};

class Gate {
 public:
  struct Options {
    bool insecure_dev = false;  // no keys: anyone may call anything
    Verifier::Options auth;
  };
  explicit Gate(Options options) : options_(options), verifier_(options.auth) {}

  // The caller whose key signed `request` (see Verifier::Verify for the
  // refusals); anyone with insecure_dev.
  StatusOr<Caller> Authenticate(const Verifier::Request& request, const ModelTable& table);

  // A slot of `instance`'s quotas (instances.toml max_concurrent, max_rps),
  // held until Release(*taken): OK with *taken empty when there is no
  // instance or no quota; RESOURCE_EXHAUSTED and *retry_after_s when over one.
  Status TakeQuota(const InstanceConfig* instance, std::string* taken, int* retry_after_s);
  void Release(std::string_view taken) {
    if (!taken.empty()) quotas_.Release(taken);
  }

 private:
  const Options options_;
  Verifier verifier_;  // its replay cache outlives reloads
  Quotas quotas_;      // per instance, across reloads
};

}  // namespace tbms
