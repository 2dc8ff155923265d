// The access log: one JSON object per line per request. It is built from named fields only,
// never from headers, so Authorization and cookies cannot reach it; the values of
// credential-carrying query parameters and anything shaped like a credential in the path or
// query are written as "REDACTED" (observe/redaction.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "observe/redaction.h"

namespace portcullis::observe {

struct AccessEntry {
  std::string_view request_id;
  std::string_view method;
  std::string_view path;   // normalised path, no query; credential shapes masked on write
  std::string_view query;  // raw query; redacted on write
  unsigned status = 0;
  std::string_view route;
  std::string_view upstream;  // empty: not forwarded (written as null)
  double duration_ms = 0;
  std::string_view host;         // the Host the client sent
  std::string_view user_agent;   // credential shapes masked on write
  unsigned upstream_status = 0;  // 0: no response came from an upstream (written as null)
  double upstream_ms = -1;       // connect to response head; < 0: not forwarded (null)
  std::string_view client_ip;    // the client (behind trusted proxies: from X-Forwarded-For)
  std::string_view peer_ip;      // the connection's peer (TCP, or the PROXY protocol header)
  std::string_view client_id;
  std::string_view user_id;
  std::string_view auth_method;
  std::string_view credential_id;
  std::string_view reason;      // failure reason (auth::reason(), or a proxy error)
  std::string_view rate_limit;  // the limit that refused the request (429); empty: none
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
};

class AccessLog {
 public:
  // `target`: "stdout", "stderr", "off", or a file path (appended to).
  // Returns null and sets `error` when the file cannot be opened.
  static std::shared_ptr<AccessLog> open(const std::string& target, Redactor redactor,
                                         std::string& error);
  // With the default parameter list extended by `redact_query_params`, no shapes.
  static std::shared_ptr<AccessLog> open(const std::string& target,
                                         std::vector<std::string> redact_query_params,
                                         std::string& error) {
    return open(target, Redactor(std::move(redact_query_params), {}), error);
  }
  ~AccessLog();

  // Whether `open` can be expected to open `target` (for `check`, without creating the
  // file): an existing file must be writable, else its folder must exist and be writable.
  // False with `why` ("cannot open access log PATH: folder /x: No such file or directory").
  static bool check_target(const std::string& target, std::string& why);

  bool enabled() const { return enabled_; }
  void write(const AccessEntry& e);
  void flush();

  // The query with the values of redacted parameters replaced (exposed for tests).
  std::string redact_query(std::string_view query) const { return redactor_.query(query); }

  struct Sink;

 private:
  AccessLog() = default;
  bool enabled_ = false;
  Redactor redactor_;
  std::shared_ptr<Sink> sink_;
};

}  // namespace portcullis::observe
