// A minimal blocking HTTP/1.1 client for the CLI (tbms try, tbms report):
// signed when given a key;
// one request per connection, with a timeout over the whole exchange.
#pragma once

#include <string>

#include "tbms/auth/signing.h"
#include "tbms/common/status.h"
#include "tbms/common/time.h"

namespace tbms::tools {

struct HttpResponse {
  int status = 0;
  std::string body;
};

// `url` is http(s)://HOST[:PORT][/...] (its path is ignored; `target` is
// used); https verifies the server against the system's CAs or `ca_file`.
// INVALID_ARGUMENT for a bad URL, DEADLINE_EXCEEDED on timeout, UNAVAILABLE
// when the server cannot be reached. With a `key`, the request is signed
// (docs/security.md).
StatusOr<HttpResponse> HttpCall(const std::string& url, std::string_view method,
                                const std::string& target, const std::string& body,
                                Duration timeout, const AccessKey* key = nullptr,
                                const std::string& ca_file = "");

}  // namespace tbms::tools
