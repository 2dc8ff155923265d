// The `rate_limits` section (named limits that routes list) and `rate_limit_local` (the
// in-process store's memory cap and state file). Shapes only: the limiter (src/ratelimit/)
// gives them meaning.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "config/mark.h"

namespace portcullis::config {

// What a limit counts per: the caller's client id or user id (known after authentication),
// the client address, or the whole route (one budget shared by every caller).
enum class RateLimitKey : std::uint8_t { ClientId, UserId, Ip, Route };
// What a limit counts: every request, or only requests that ended in 401 (the brute-force
// shield: once exhausted, the key gets 429 before any credential is checked).
enum class RateLimitCount : std::uint8_t { Requests, FailedAuth };

struct RateLimitConfig {
  std::string name;
  std::uint64_t requests = 0;  // budget per window, >= 1
  std::uint32_t per_s = 0;     // window length, from `per: Ns | Nm | Nh | Nd`
  RateLimitKey key = RateLimitKey::ClientId;
  RateLimitCount count = RateLimitCount::Requests;
  bool headers = true;  // RateLimit-Policy / RateLimit on the answers
  Mark mark;
  bool operator==(const RateLimitConfig&) const = default;
  // Whether it is judged before authentication (ip, route) or after it (client_id, user_id).
  bool before_auth() const { return key == RateLimitKey::Ip || key == RateLimitKey::Route; }
};

// The local (in-process) store.
struct RateLimitLocalConfig {
  std::uint64_t max_keys = 1000000;  // tracked (limit, key) pairs; a new key beyond: 429
  // Windows of at least persist_min_s are saved here and read back at start; empty: none.
  std::string state_file;
  bool state_file_set = false;         // written in the file (else the default location)
  std::uint32_t persist_min_s = 3600;  // windows this long or longer are persisted
  std::uint32_t save_interval_s = 30;  // how often they are saved (and at shutdown)
  Mark mark;
  Mark state_file_at;
  bool same_settings(const RateLimitLocalConfig& o) const {
    return max_keys == o.max_keys && state_file == o.state_file &&
           persist_min_s == o.persist_min_s && save_interval_s == o.save_interval_s;
  }
};

// "Ns", "Nm", "Nh" or "Nd" (N a whole number >= 1) in seconds; 0 when `text` is not one or
// the window is longer than 366 days.
std::uint32_t parse_window(std::string_view text);
// The other way round, as short as exact: 60 -> "1m", 90 -> "90s".
std::string window_str(std::uint32_t seconds);
std::string_view key_name(RateLimitKey key);

}  // namespace portcullis::config
