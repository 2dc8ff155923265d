// A circuit breaker for calls to an identity provider: after `failures` consecutive
// failures it opens and refuses calls for `open_for`, then lets exactly one trial call
// through (half-open); the trial's success closes it, its failure opens it again.
// Thread-safe; the clock is injectable for tests.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>

namespace portcullis::auth::oauth2 {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;
  enum class State { Closed, Open, HalfOpen };

  CircuitBreaker(unsigned failures, Clock::duration open_for, Now now = {});

  // True when a call may go out now. In the open state, once `open_for` has passed, the
  // first caller gets true (the trial) and every other caller false until it is recorded.
  bool allow();
  void record_success();
  void record_failure();

  State state() const;
  // Open or half-open: calls are (mostly) refused. For the breaker_open gauge.
  bool is_open() const { return state() != State::Closed; }
  // Open and within `open_for`: every call is refused now. Once `open_for` has passed the next
  // caller is let through as the trial, so a breaker with no traffic does not count as
  // refusing forever (what /readyz reports).
  bool refusing() const;

 private:
  Clock::time_point now() const { return now_ ? now_() : Clock::now(); }

  const unsigned threshold_;
  const Clock::duration open_for_;
  const Now now_;
  mutable std::mutex mu_;
  State state_ = State::Closed;
  unsigned consecutive_failures_ = 0;
  Clock::time_point open_until_{};
};

}  // namespace portcullis::auth::oauth2
