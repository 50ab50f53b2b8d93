// Static assets compiled into the binary (the dashboard), so a server needs
// no files beside it. Thread-safe (immutable).
#pragma once

#include <string_view>
#include <vector>

namespace tbms {

struct Asset {
  std::string_view path;          // URL path, e.g. /dashboard/dashboard.js
  std::string_view content_type;
  std::string_view body;
};

const std::vector<Asset>& EmbeddedAssets();

}  // namespace tbms
