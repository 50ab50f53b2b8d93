// What `tbms try` and `tbms bench` send: the --models flag and the /try body.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tbms/common/status.h"

namespace tbms::tools {

struct ModelSpec {
  std::string name;
  std::optional<double> est;  // ms; the server's default when absent
};

// "embedding:35,svm:25,bayes" -> ranked models; INVALID_ARGUMENT naming the bad item.
StatusOr<std::vector<ModelSpec>> ParseModels(std::string_view spec);

// The JSON body of POST /v1/instances/{i}/try.
std::string TryBody(std::string_view question, const std::vector<ModelSpec>& models, double tloc_ms,
                    int cross_request, double cross_lag_ms, int priority);

}  // namespace tbms::tools
