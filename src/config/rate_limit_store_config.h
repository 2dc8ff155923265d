// `rate_limit_store`: the Redis that the gateways sharing rate limits reserve their budgets in
// (ratelimit/shared_limiter.h). Absent: every limit is counted in this process only.
#pragma once

#include <cstdint>
#include <string>

#include "config/mark.h"
#include "config/secret.h"

namespace portcullis::config {

// What a request needing the store gets when it is down or slow (`on_error`).
enum class StoreErrorMode : std::uint8_t {
  Local,  // counted by this gateway alone (up to N x the limit with N gateways)
  Allow,  // admitted
  Deny,   // refused with 429
};

struct RateLimitStoreConfig {
  std::string url;  // as written ("redis://host:port/db"; it never holds a password)
  std::string host;
  std::uint16_t port = 6379;
  unsigned db = 0;
  std::string username;  // Redis 6 ACL user from the URL's user part; empty: default user
  Secret password;       // `password`: ${ENV_NAME} or file:/path; empty: no AUTH
  unsigned timeout_ms = 50;
  StoreErrorMode on_error = StoreErrorMode::Local;
  Mark mark;

  // The settings, not where they are written: a reload that changes none keeps the limiter
  // (and its counters).
  friend bool operator==(const RateLimitStoreConfig& a, const RateLimitStoreConfig& b) {
    return a.url == b.url && a.host == b.host && a.port == b.port && a.db == b.db &&
           a.username == b.username && a.password == b.password && a.timeout_ms == b.timeout_ms &&
           a.on_error == b.on_error;
  }
};

}  // namespace portcullis::config
