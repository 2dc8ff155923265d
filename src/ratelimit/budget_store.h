// Where the shared limiter keeps each window's budget (one counter per limit, key and window,
// shared by every gateway): an interface so that the limiter's arithmetic is tested with a
// fake (tests/unit/ratelimit) and runs on Redis in the gateway (redis_budget_store.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace portcullis::ratelimit {

// What a reservation asks for; the store grants
//   grant_for(want, at_least, limit, taken, divisor) = min(want, max(at_least,
//   ceil(left / divisor)), left)   with left = limit - taken (0 when taken >= limit)
// atomically, and adds the grant to the counter. So the grants of all gateways together never
// exceed `limit`, and each grant shrinks as the window's budget nears its end.
struct Reservation {
  std::string counter;            // the store's key for this limit, key and window
  std::uint64_t want = 0;         // the most this gateway takes at once
  std::uint64_t at_least = 1;     // requests waiting now: served together when the budget allows
  std::uint64_t limit = 0;        // the window's budget
  std::uint64_t divisor = 8;      // the share of what is left one grant may take
  std::int64_t expire_at_ms = 0;  // Unix ms when the counter may go (the window's end)
};

struct StoreAnswer {
  bool ok = false;            // false: the store did not answer (down, slow, refused)
  std::uint64_t granted = 0;  // reserve: what this gateway may now admit
  std::uint64_t taken = 0;    // the counter after the call: all gateways' grants (or counts)
};

using StoreDone = std::function<void(StoreAnswer)>;

// The grant rule the store applies (shared by the fake and documented with the Lua script).
std::uint64_t grant_for(std::uint64_t want, std::uint64_t at_least, std::uint64_t limit,
                        std::uint64_t taken, std::uint64_t divisor);

class BudgetStore {
 public:
  virtual ~BudgetStore() = default;
  // Grants part of the window's budget (see Reservation). `done` exactly once, on any
  // thread, within `timeout`.
  virtual void reserve(const Reservation& r, std::chrono::milliseconds timeout, StoreDone done) = 0;
  // Adds `n` to a counter without asking (failed_auth counts); `taken` is the new total.
  virtual void add(const std::string& counter, std::uint64_t n, std::int64_t expire_at_ms,
                   std::chrono::milliseconds timeout, StoreDone done) = 0;
  // Reads a counter (0 when absent).
  virtual void read(const std::string& counter, std::chrono::milliseconds timeout,
                    StoreDone done) = 0;
  // Whether the store is reachable now (for metrics; false while its connection is down).
  virtual bool up() const = 0;
};

}  // namespace portcullis::ratelimit
