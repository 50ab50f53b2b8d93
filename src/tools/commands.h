// The subcommands of the tbms binary. Each Add* registers its flags and a
// callback; the callback stores the exit code returned by ExitCode().
#pragma once

#include <CLI/CLI.hpp>

namespace tbms::tools {

void AddServe(CLI::App& app);
void AddTry(CLI::App& app);
void AddReport(CLI::App& app);
void AddBench(CLI::App& app);
void AddSim(CLI::App& app);
void AddTune(CLI::App& app);
void AddHouse(CLI::App& app);
void AddHouseBuild(CLI::App* house);  // tbms house build
void SetExitCode(int code);
int ExitCode();

}  // namespace tbms::tools
