// What `tbms try` and `tbms bench` send: the --models flag and the /try body.
#pragma once

#include <CLI/CLI.hpp>
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

// The flags that say which server is asked and how: shared by try and bench.
struct TryParams {
  std::string url = "http://127.0.0.1:8000";
  std::string instance = "default";
  std::string models;  // NAME[:EST_MS],... best first
  double tloc = 50;
  int cross_request = 0;
  double cross_lag = 0;
  int priority = 0;
};
void AddTryParams(CLI::App* cmd, TryParams& p, const std::string& url_help = "Server URL");

// "embedding:35,svm:25,bayes" -> ranked models; INVALID_ARGUMENT naming the bad item.
StatusOr<std::vector<ModelSpec>> ParseModels(std::string_view spec);

// The JSON body of POST /v1/instances/{i}/try.
std::string TryBody(std::string_view question, const std::vector<ModelSpec>& models,
                    const TryParams& params);

}  // namespace tbms::tools
