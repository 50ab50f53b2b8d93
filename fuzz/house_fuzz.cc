// libFuzzer harness: the model house reader. The input is split at the
// first two NUL bytes into model.toml, a version's simulated.toml and
// instances.toml of a one-model house in a temp folder, then scanned: every
// outcome must be a config or a list of errors — never a crash or a hang.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "tbms/house/config.h"

namespace {

void Write(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

std::string_view Next(std::string_view& rest) {
  const size_t nul = rest.find('\0');
  const std::string_view part = rest.substr(0, nul);
  rest = nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  return part;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // In memory where the machine has a tmpfs: rewriting three files per input
  // on a journalled disk (ext4 flushes a truncated-and-rewritten file on
  // close) held the harness to about a thousand inputs a second.
  static const std::filesystem::path house =
      (std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm")
                                                 : std::filesystem::temp_directory_path()) /
      ("tbms-house-fuzz-" + std::to_string(getpid()));
  static const bool made = [] {
    std::filesystem::create_directories(house / "m" / "1");
    return true;
  }();
  (void)made;
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  Write(house / "m" / "model.toml", Next(rest));
  Write(house / "m" / "1" / "simulated.toml", Next(rest));
  Write(house / "instances.toml", Next(rest));
  (void)tbms::ScanHouse(house);
  return 0;
}
