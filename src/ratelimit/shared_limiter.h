// The limiter shared by every gateway on one store (rate_limit_store: Redis). Guarantee: the
// total admitted across all gateways never exceeds a limit in a window, because a gateway
// admits only what the store granted it, and the store's grants for a window never add up to
// more than the limit (budget_store.h). Each gateway reserves a slice of the window's budget
// at a time (at most limit/16, and at most 1/8 of what is left in the window, so the slices
// shrink towards the end), serves requests from it without asking the store, and reserves
// again when it runs out; once the store says the window is spent, requests are refused
// without asking it again until the window ends. A request whose bucket is being refilled
// waits for that one reservation, never longer than `timeout`.
//
// When the store fails (down, slow, refusing), the requests that needed it are answered as
// `on_error` says: Local hands them to the in-process fallback limiter (each gateway then
// enforces each limit alone: up to N times the limit with N gateways), Allow admits them, Deny
// refuses them. Slices already granted keep being served. The store coming back is used again
// at the next reservation.
//
// failed_auth limits (peek/record): each 401 adds one to the store's counter at once (and to
// the fallback's); peek answers from the count this gateway last saw, refreshed from the
// store in the background at most once a second per key, never waiting for it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "ratelimit/budget_store.h"
#include "ratelimit/limiter.h"

namespace portcullis::ratelimit {

enum class OnStoreError : std::uint8_t { Local, Allow, Deny };

struct SharedLimiterOptions {
  std::chrono::milliseconds timeout{50};
  OnStoreError on_error = OnStoreError::Local;
  std::uint64_t slice_fraction = 16;     // a slice is at most limit / slice_fraction
  std::uint64_t divisor = 8;             // and at most 1/divisor of what is left
  std::size_t max_buckets = 1'000'000;   // keys tracked at once (see the .cc on the cap)
  std::function<std::int64_t()> now_ms;  // Unix ms; default: the system clock
};

class SharedLimiter final : public Limiter {
 public:
  // `fallback` answers for on_error: local (it may be null with the other modes).
  SharedLimiter(std::shared_ptr<BudgetStore> store, std::shared_ptr<Limiter> fallback,
                SharedLimiterOptions options);
  ~SharedLimiter() override;

  void admit(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) override;
  void peek(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) override;
  void record(Check check) override;

  // For tests: buckets tracked now.
  std::size_t buckets() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace portcullis::ratelimit
