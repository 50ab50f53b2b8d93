// --replicas: the copies of a model that run batches at once (tbms serve
// --simulate, tbms sim, tbms house build). It was --instances until
// "instance" came to mean only the tenant (--instance of tbms try and
// bench); the old name stays as a deprecated alias. One definition, so the
// three commands take and refuse the same names.
#pragma once

#include <CLI/CLI.hpp>

#include <array>
#include <iostream>
#include <string>

namespace tbms::tools {

inline constexpr const char* kReplicasFlag = "--replicas";
inline constexpr const char* kDeprecatedReplicasFlag = "--instances";

// Adds --replicas, storing into `value`, and --instances, storing into the
// same `value`, listed in --help under "Deprecated" and warning on stderr
// when given. Giving both is a usage error (CLI11's "--replicas excludes
// --instances", exit 2). Returns both options, so that the caller gives
// them the same checks.
template <typename T>
std::array<CLI::Option*, 2> AddReplicasFlag(CLI::App* cmd, T& value, const std::string& description) {
  CLI::Option* flag = cmd->add_option(kReplicasFlag, value, description);
  CLI::Option* alias = cmd->add_option(kDeprecatedReplicasFlag, value,
                                       std::string("Deprecated name of ") + kReplicasFlag);
  alias->group("Deprecated")->excludes(flag)->each([](const std::string&) {
    std::cerr << "tbms: warning: " << kDeprecatedReplicasFlag << " is deprecated, use " << kReplicasFlag << "\n";
  });
  return {flag, alias};
}

}  // namespace tbms::tools
