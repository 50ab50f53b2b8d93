// HOST:PORT, the one spelling of a network address in flags and houses.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tbms {

struct HostPort {
  std::string host;  // as written: a name, an IPv4 address or an IPv6 one in brackets
  uint16_t port = 0;
};

// The last ':' splits; a host with ':' must be bracketed ([::1]:80); the
// port is decimal, 1-65535, or 0 (any free port) where `allow_any_port`.
std::optional<HostPort> ParseHostPort(std::string_view address, bool allow_any_port = false);

}  // namespace tbms
