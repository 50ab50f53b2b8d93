#include "tbms/common/address.h"

#include <algorithm>

namespace tbms {

std::optional<HostPort> ParseHostPort(std::string_view address, bool allow_any_port) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == address.size() || colon + 6 < address.size()) {
    return std::nullopt;
  }
  const std::string_view digits = address.substr(colon + 1);
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  const int port = std::stoi(std::string(digits));
  const std::string_view host = address.substr(0, colon);
  const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
  if (port > 65535 || (port == 0 && !allow_any_port) || (!bracketed && host.find(':') != std::string_view::npos)) {
    return std::nullopt;
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace tbms
