#include "auth/oauth2/circuit_breaker.h"

#include <gtest/gtest.h>

#include "fakes.h"

namespace portcullis::auth::oauth2 {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using State = CircuitBreaker::State;

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresOnly) {
  FakeClock clock;
  CircuitBreaker b(3, 5s, clock.steady());
  b.record_failure();
  b.record_failure();
  b.record_success();  // resets the count
  b.record_failure();
  b.record_failure();
  EXPECT_EQ(b.state(), State::Closed);
  EXPECT_TRUE(b.allow());
  b.record_failure();
  EXPECT_EQ(b.state(), State::Open);
  EXPECT_TRUE(b.is_open());
  EXPECT_FALSE(b.allow());
}

TEST(CircuitBreaker, StaysOpenForTheBackOffThenAllowsOneTrial) {
  FakeClock clock;
  CircuitBreaker b(1, 5s, clock.steady());
  b.record_failure();
  clock.advance(4999ms);
  EXPECT_FALSE(b.allow());
  clock.advance(1ms);
  EXPECT_TRUE(b.allow());  // the trial
  EXPECT_EQ(b.state(), State::HalfOpen);
  EXPECT_FALSE(b.allow());  // only one trial at a time
  EXPECT_FALSE(b.allow());
  b.record_success();
  EXPECT_EQ(b.state(), State::Closed);
  EXPECT_TRUE(b.allow());
  EXPECT_TRUE(b.allow());
}

TEST(CircuitBreaker, RefusingOnlyWhileOpenWithinItsBackOff) {
  FakeClock clock;
  CircuitBreaker b(1, 5s, clock.steady());
  EXPECT_FALSE(b.refusing());
  b.record_failure();
  EXPECT_TRUE(b.refusing());
  clock.advance(4999ms);
  EXPECT_TRUE(b.refusing());
  // The back-off is over: the next call is the trial, whether or not one comes (so /readyz
  // does not stay 503 for a breaker nothing calls any more).
  clock.advance(1ms);
  EXPECT_FALSE(b.refusing());
  EXPECT_TRUE(b.is_open());
  EXPECT_TRUE(b.allow());
  EXPECT_FALSE(b.refusing());  // half-open: one trial out
  b.record_failure();
  EXPECT_TRUE(b.refusing());
}

TEST(CircuitBreaker, FailedTrialOpensAgainForAFullBackOff) {
  FakeClock clock;
  CircuitBreaker b(2, 5s, clock.steady());
  b.record_failure();
  b.record_failure();
  clock.advance(5s);
  ASSERT_TRUE(b.allow());
  clock.advance(1s);
  b.record_failure();
  EXPECT_EQ(b.state(), State::Open);
  clock.advance(4s);
  EXPECT_FALSE(b.allow());
  clock.advance(1s);
  EXPECT_TRUE(b.allow());
}

TEST(CircuitBreaker, LateFailuresDoNotExtendTheBackOff) {
  FakeClock clock;
  CircuitBreaker b(1, 5s, clock.steady());
  b.record_failure();  // opens until t=5s
  clock.advance(3s);
  b.record_failure();  // a call that went out before it opened
  clock.advance(2s);
  EXPECT_TRUE(b.allow());
}

}  // namespace
}  // namespace portcullis::auth::oauth2
