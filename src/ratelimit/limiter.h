#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace portcullis::ratelimit {

// One limit applied to one key for one request. Fixed windows aligned to the Unix epoch:
// window_start = floor(now_s / per_s) * per_s, the same on every gateway.
struct Check {
  std::string limit;         // the limit's name (rate_limits: key), for headers/logs/metrics
  std::string key;           // "client_id:<v>", "user_id:<v>", "ip:<v>", "route:<name>"
  std::uint64_t requests = 0;  // budget per window (a per-key plan already applied)
  std::uint32_t per_s = 0;     // window length in seconds
};

// The answer for one check, in the order the checks were given.
struct Outcome {
  bool admitted = false;
  std::uint64_t remaining = 0;  // left in this window after this request (RateLimit r=)
  std::uint32_t reset_s = 0;    // seconds until the window ends (RateLimit t=, Retry-After)
};

class Limiter {
public:
  virtual ~Limiter() = default;
  // Admit one request only if every check admits it, then take one from each check.
  // `done` is called exactly once, inline or later on the caller's executor via post
  // (the caller passes a callback that posts itself when needed; the limiter may call
  // it from any thread). A limiter whose shared store is slow answers within its timeout.
  virtual void admit(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) = 0;
  // Brute-force shield (count: failed_auth): is any budget left for these checks?
  // Takes nothing. Same callback contract.
  virtual void peek(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) = 0;
  // Take one from `check` without asking (a request ended in 401 on a failed_auth limit).
  virtual void record(Check check) = 0;
  // admit() and peek() answered on the spot, for a store that never waits (the in-process
  // one): the same answers, one per check written to `out` (its capacity reused), and true.
  // A store that may wait answers neither way on the spot: false, nothing taken, `out`
  // untouched; the caller asks admit()/peek() instead.
  virtual bool admit_inline(std::span<const Check> checks, std::vector<Outcome>& out) {
    (void)checks, (void)out;
    return false;
  }
  virtual bool peek_inline(std::span<const Check> checks, std::vector<Outcome>& out) {
    (void)checks, (void)out;
    return false;
  }
};

}  // namespace portcullis::ratelimit
