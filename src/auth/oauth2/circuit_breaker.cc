#include "auth/oauth2/circuit_breaker.h"

#include <algorithm>

namespace portcullis::auth::oauth2 {

CircuitBreaker::CircuitBreaker(unsigned failures, Clock::duration open_for, Now now)
    : threshold_(std::max(1u, failures)), open_for_(open_for), now_(std::move(now)) {}

bool CircuitBreaker::allow() {
  std::lock_guard lock(mu_);
  switch (state_) {
    case State::Closed:
      return true;
    case State::HalfOpen:
      return false;  // the trial call is out
    case State::Open:
      if (now() < open_until_) return false;
      state_ = State::HalfOpen;
      return true;
  }
  return false;
}

void CircuitBreaker::record_success() {
  std::lock_guard lock(mu_);
  state_ = State::Closed;
  consecutive_failures_ = 0;
}

void CircuitBreaker::record_failure() {
  std::lock_guard lock(mu_);
  if (state_ == State::Open) return;  // a call from before it opened; keep the deadline
  if (state_ == State::HalfOpen || ++consecutive_failures_ >= threshold_) {
    state_ = State::Open;
    open_until_ = now() + open_for_;
    consecutive_failures_ = 0;
  }
}

bool CircuitBreaker::refusing() const {
  std::lock_guard lock(mu_);
  return state_ == State::Open && now() < open_until_;
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

}  // namespace portcullis::auth::oauth2
