// The shared limiter's arithmetic against an in-memory store: the grants of several gateways
// never exceed a limit, most of it is usable, the store is asked rarely, and the on_error
// modes, waiting and windows behave as documented (ratelimit/shared_limiter.h).
#include "ratelimit/shared_limiter.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>

#include "fake_store.h"

namespace portcullis::ratelimit {
namespace {

using testing::CountingLimiter;
using testing::FakeStore;

// A clock the test moves: 10:00:05 of some day, 5 s into a minute window.
struct TestClock {
  std::int64_t ms = 1'700'000'000'000 - 1'700'000'000'000 % 60000 + 5000;
};

struct Gateway {
  std::shared_ptr<SharedLimiter> limiter;
  std::shared_ptr<CountingLimiter> fallback;
};

Gateway gateway(std::shared_ptr<FakeStore> store, TestClock& clock,
                OnStoreError mode = OnStoreError::Local) {
  auto fallback = std::make_shared<CountingLimiter>();
  SharedLimiterOptions o;
  o.on_error = mode;
  o.now_ms = [&clock] { return clock.ms; };
  return {std::make_shared<SharedLimiter>(store, fallback, o), fallback};
}

Check per_minute(std::uint64_t n, std::string key = "client_id:a") {
  return Check{"partner", std::move(key), n, 60};
}

// The answer of one admit that is answered inline (the fake store answers inline).
std::optional<std::vector<Outcome>> admit(Limiter& l, std::vector<Check> checks) {
  std::optional<std::vector<Outcome>> got;
  l.admit(std::move(checks), [&](std::vector<Outcome> o) { got = std::move(o); });
  return got;
}

bool admitted(const std::vector<Outcome>& o) {
  for (const auto& x : o) {
    if (!x.admitted) return false;
  }
  return true;
}

TEST(GrantFor, NeverMoreThanLeftAndShrinksTowardsTheEnd) {
  EXPECT_EQ(grant_for(62, 1, 1000, 0, 8), 62u);    // the cap
  EXPECT_EQ(grant_for(62, 1, 1000, 800, 8), 25u);  // 1/8 of the 200 left
  EXPECT_EQ(grant_for(62, 1, 1000, 995, 8), 1u);   // ceil(5/8)
  EXPECT_EQ(grant_for(62, 3, 1000, 998, 8), 2u);   // the waiting three get what is left
  EXPECT_EQ(grant_for(62, 1, 1000, 1000, 8), 0u);
  EXPECT_EQ(grant_for(62, 1, 1000, 1500, 8), 0u);
  EXPECT_EQ(grant_for(5, 1, 3, 0, 0), 3u);  // divisor 0 read as 1
}

// The shared store may wait: it never answers on the spot, takes nothing, leaves `out` alone;
// the session then asks admit()/peek() and waits for the callback.
TEST(SharedLimiter, NeverAnswersInline) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock);
  std::vector<Outcome> out{Outcome{true, 77, 7}};
  const std::vector<Check> checks{per_minute(1)};
  EXPECT_FALSE(a.limiter->admit_inline(checks, out));
  EXPECT_FALSE(a.limiter->peek_inline(checks, out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].remaining, 77u);
  // Nothing was taken: the one request of the minute is still there.
  auto o = admit(*a.limiter, {per_minute(1)});
  ASSERT_TRUE(o.has_value());
  EXPECT_TRUE(admitted(*o));
}

TEST(SharedLimiter, TwoGatewaysNeverAdmitMoreThanTheLimitAndUseAllOfIt) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock), b = gateway(store, clock);
  int admitted_total = 0;
  for (int i = 0; i < 1500; ++i) {
    auto& g = i % 2 == 0 ? a : b;
    auto o = admit(*g.limiter, {per_minute(1000)});
    ASSERT_TRUE(o);
    admitted_total += admitted(*o) ? 1 : 0;
  }
  EXPECT_EQ(admitted_total, 1000);
  EXPECT_EQ(store->counters.begin()->second, 1000u);
  // Far fewer store calls than requests (about 60 for 1,000).
  EXPECT_LT(store->reserves, 100);
  EXPECT_EQ(a.fallback->admits + b.fallback->admits, 0);
}

TEST(SharedLimiter, ManyGatewaysUnevenInterleavingStayWithinTheLimit) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  std::vector<Gateway> gws;
  for (int i = 0; i < 7; ++i) gws.push_back(gateway(store, clock));
  std::mt19937 rng(13);
  int admitted_total = 0;
  for (int i = 0; i < 20000; ++i) {
    auto& g = gws[rng() % gws.size()];
    admitted_total += admitted(*admit(*g.limiter, {per_minute(5000)})) ? 1 : 0;
  }
  EXPECT_EQ(admitted_total, 5000);
  EXPECT_LT(store->reserves, 5000 / 10);
}

TEST(SharedLimiter, EvenLoadOfExactlyTheLimitGetsAtLeast95Percent) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock), b = gateway(store, clock), c = gateway(store, clock);
  int admitted_total = 0;
  for (int i = 0; i < 999; ++i) {
    auto& g = i % 3 == 0 ? a : i % 3 == 1 ? b : c;
    admitted_total += admitted(*admit(*g.limiter, {per_minute(999)})) ? 1 : 0;
  }
  EXPECT_GE(admitted_total, 950);
  EXPECT_LE(admitted_total, 999);
}

TEST(SharedLimiter, ASpentWindowIsRefusedWithoutAskingTheStoreAgain) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(admitted(*admit(*a.limiter, {per_minute(10)})));
  auto refused = admit(*a.limiter, {per_minute(10)});
  ASSERT_FALSE(admitted(*refused));
  EXPECT_EQ((*refused)[0].remaining, 0u);
  EXPECT_EQ((*refused)[0].reset_s, 55u);
  const int calls = store->reserves;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(admitted(*admit(*a.limiter, {per_minute(10)})));
  EXPECT_EQ(store->reserves, calls);
}

TEST(SharedLimiter, ANewWindowHasANewBudget) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(admitted(*admit(*a.limiter, {per_minute(3)})));
  EXPECT_FALSE(admitted(*admit(*a.limiter, {per_minute(3)})));
  clock.ms += 55'000;  // the next minute
  auto o = admit(*a.limiter, {per_minute(3)});
  EXPECT_TRUE(admitted(*o));
  EXPECT_EQ((*o)[0].reset_s, 60u);
  EXPECT_EQ(store->counters.size(), 2u);  // one counter per window
}

TEST(SharedLimiter, AllChecksOrNothing) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock);
  Check route{"whole-route", "route:partner", 100, 60};
  Check client = per_minute(2);
  EXPECT_TRUE(admitted(*admit(*a.limiter, {route, client})));
  EXPECT_TRUE(admitted(*admit(*a.limiter, {route, client})));
  auto o = admit(*a.limiter, {route, client});
  EXPECT_TRUE((*o)[0].admitted);
  EXPECT_FALSE((*o)[1].admitted);
  // The refused request took nothing from the route's budget: 98 left.
  auto only_route = admit(*a.limiter, {route});
  EXPECT_EQ((*only_route)[0].remaining, 97u);
}

TEST(SharedLimiter, ClientsAreIsolated) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock);
  for (int i = 0; i < 5; ++i) admit(*a.limiter, {per_minute(5, "client_id:a")});
  EXPECT_FALSE(admitted(*admit(*a.limiter, {per_minute(5, "client_id:a")})));
  EXPECT_TRUE(admitted(*admit(*a.limiter, {per_minute(5, "client_id:b")})));
}

TEST(SharedLimiter, OnErrorLocalHandsTheRequestToTheFallback) {
  auto store = std::make_shared<FakeStore>();
  store->failing = true;
  TestClock clock;
  auto a = gateway(store, clock, OnStoreError::Local);
  auto o = admit(*a.limiter, {per_minute(10)});
  ASSERT_TRUE(o);
  EXPECT_EQ((*o)[0].remaining, 7u);  // the fallback's answer
  EXPECT_EQ(a.fallback->admits, 1);
  // The store back: shared again.
  store->failing = false;
  EXPECT_TRUE(admitted(*admit(*a.limiter, {per_minute(10)})));
  EXPECT_EQ(a.fallback->admits, 1);
  EXPECT_EQ(store->counters.begin()->second, 1u);
}

TEST(SharedLimiter, OnErrorAllowAndDeny) {
  auto store = std::make_shared<FakeStore>();
  store->failing = true;
  TestClock clock;
  auto allow = gateway(store, clock, OnStoreError::Allow);
  auto deny = gateway(store, clock, OnStoreError::Deny);
  auto o1 = admit(*allow.limiter, {per_minute(10)});
  EXPECT_TRUE(admitted(*o1));
  EXPECT_EQ((*o1)[0].remaining, 10u);
  auto o2 = admit(*deny.limiter, {per_minute(10)});
  EXPECT_FALSE(admitted(*o2));
  EXPECT_EQ(allow.fallback->admits + deny.fallback->admits, 0);
}

TEST(SharedLimiter, SlicesGrantedBeforeAFailureAreStillServed) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock, OnStoreError::Deny);
  ASSERT_TRUE(admitted(*admit(*a.limiter, {per_minute(160)})));  // a slice of 10
  store->failing = true;
  for (int i = 0; i < 9; ++i) EXPECT_TRUE(admitted(*admit(*a.limiter, {per_minute(160)})));
  EXPECT_FALSE(admitted(*admit(*a.limiter, {per_minute(160)})));
}

TEST(SharedLimiter, RequestsWaitForOneReservationTogether) {
  auto store = std::make_shared<FakeStore>();
  store->hold = true;
  TestClock clock;
  auto a = gateway(store, clock);
  std::vector<std::optional<std::vector<Outcome>>> got(3);
  for (auto& g : got) {
    a.limiter->admit({per_minute(1000)}, [&g](std::vector<Outcome> o) { g = std::move(o); });
  }
  EXPECT_EQ(store->reserves, 1);
  for (auto& g : got) EXPECT_FALSE(g);
  EXPECT_LE(store->last_timeout.count(), 50);
  store->release();
  for (auto& g : got) EXPECT_TRUE(g && admitted(*g));
  EXPECT_EQ(store->reserves, 1);
}

TEST(SharedLimiter, AWaiterPastItsDeadlineIsAnsweredByOnError) {
  auto store = std::make_shared<FakeStore>();
  store->hold = true;
  TestClock clock;
  auto a = gateway(store, clock, OnStoreError::Deny);
  std::optional<std::vector<Outcome>> first, second;
  a.limiter->admit({per_minute(2)}, [&](std::vector<Outcome> o) { first = std::move(o); });
  clock.ms += 30;
  a.limiter->admit({per_minute(2)}, [&](std::vector<Outcome> o) { second = std::move(o); });
  a.limiter->admit({per_minute(2)}, [](std::vector<Outcome>) {});
  // The reservation (want 1: limit 2 / 16) serves the first; the others need another, but
  // the first waiter's deadline is close: the next call may take only what is left of it.
  clock.ms += 10;
  store->release();
  ASSERT_TRUE(first);
  EXPECT_TRUE(admitted(*first));
  EXPECT_LE(store->last_timeout.count(), 40);
  clock.ms += 100;  // past every deadline
  store->failing = true;
  store->release();
  ASSERT_TRUE(second);
  EXPECT_FALSE(admitted(*second));
}

TEST(SharedLimiter, FailedAuthCountsAreSharedThroughTheStore) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  auto a = gateway(store, clock), b = gateway(store, clock);
  Check shield{"login-shield", "ip:192.0.2.7", 10, 60};
  std::optional<std::vector<Outcome>> got;
  auto peek = [&](Limiter& l) {
    l.peek({shield}, [&](std::vector<Outcome> o) { got = std::move(o); });
    return got && admitted(*got);
  };
  EXPECT_TRUE(peek(*b.limiter));  // b reads the counter (0)
  for (int i = 0; i < 10; ++i) a.limiter->record(shield);
  EXPECT_EQ(store->adds, 10);
  EXPECT_FALSE(peek(*a.limiter));
  EXPECT_TRUE(peek(*b.limiter));  // b read less than a second ago
  clock.ms += 1000;
  peek(*b.limiter);  // the refresh answers for the next peek
  EXPECT_FALSE(peek(*b.limiter));
  EXPECT_EQ(a.fallback->records, 10);  // on_error: local keeps the fallback counting too
}

TEST(SharedLimiter, TrackedKeysStayUnderTheCap) {
  auto store = std::make_shared<FakeStore>();
  TestClock clock;
  SharedLimiterOptions o;
  o.now_ms = [&clock] { return clock.ms; };
  o.max_buckets = 100;
  SharedLimiter l(store, nullptr, o);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(admitted(*admit(l, {per_minute(10, "ip:" + std::to_string(i))})));
  }
  EXPECT_LE(l.buckets(), 101u);
  clock.ms += 120'000;  // their windows are over: swept
  admit(l, {per_minute(10, "ip:x")});
  EXPECT_EQ(l.buckets(), 1u);
}

}  // namespace
}  // namespace portcullis::ratelimit
