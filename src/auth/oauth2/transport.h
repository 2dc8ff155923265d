// How the oauth2 mechanism reaches its provider: one HTTP exchange with a callback. The
// mechanism is written against this small interface so that it is testable with a fake
// and independent of the HTTP client behind it (http_transport.h adapts the gateway's
// client; tests/unit/oauth2 fakes it).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "config/oauth2_config.h"

namespace portcullis::auth::oauth2 {

struct HttpExchange {
  std::string method = "POST";  // "POST" (introspection) or "GET" (discovery)
  config::HttpUrl url;
  // Extra request headers, e.g. Authorization for client_secret_basic.
  std::vector<std::pair<std::string, std::string>> headers;
  // POST: the form fields, and the same fields application/x-www-form-urlencoded.
  std::vector<std::pair<std::string, std::string>> form;
  std::string body;
  std::chrono::milliseconds timeout{2000};  // for the whole exchange
};

struct HttpOutcome {
  enum class Kind { Response, Timeout, Unreachable };
  Kind kind = Kind::Unreachable;
  unsigned status = 0;  // when kind == Response
  std::string body;
  std::string detail;  // for logs when there is no response ("connection refused")
};

class IntrospectionTransport {
 public:
  virtual ~IntrospectionTransport() = default;
  // Calls `done` exactly once, on any thread (possibly before returning), no later than
  // shortly after `timeout`.
  virtual void send(HttpExchange exchange, std::function<void(HttpOutcome)> done) = 0;
};

}  // namespace portcullis::auth::oauth2
