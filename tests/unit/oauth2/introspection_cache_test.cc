#include "auth/oauth2/introspection_cache.h"

#include <gtest/gtest.h>

#include <thread>

#include "fakes.h"

namespace portcullis::auth::oauth2 {
namespace {

using namespace std::chrono_literals;
using Lookup = IntrospectionCache::Lookup;
using testing::FakeClock;

DecisionPtr positive(std::string sub) {
  identity::Identity id;
  id.subject = std::move(sub);
  id.auth_method = "oauth2";
  auto d = std::make_shared<Decision>();
  d->result = AuthResult::ok(std::move(id));
  return d;
}

DecisionPtr negative() {
  auto d = std::make_shared<Decision>();
  d->result = AuthResult::fail(Status::InactiveCredential);
  return d;
}

// Looks `key` up and records what the waiter got (it may be called later).
struct Probe {
  DecisionPtr got;
  int calls = 0;
  IntrospectionCache::Waiter waiter() {
    return [this](const DecisionPtr& d) {
      got = d;
      ++calls;
    };
  }
};

TEST(TokenKey, IsSha256AndCredentialIdIsItsFirst12HexDigits) {
  const TokenKey k = token_key("abc");
  EXPECT_EQ(credential_id(k), "ba7816bf8f01");
  EXPECT_NE(token_key("abd"), k);
}

TEST(IntrospectionCache, PositiveAnswerIsKeptForItsTtlOnly) {
  FakeClock clock;
  IntrospectionCache cache(10, clock.steady());
  const auto key = token_key("t1");
  Probe leader;
  ASSERT_EQ(cache.lookup(key, leader.waiter()), Lookup::Leader);
  EXPECT_EQ(leader.calls, 0);
  cache.complete(key, positive("alice"), 60s);
  ASSERT_EQ(leader.calls, 1);
  EXPECT_EQ(leader.got->result.identity.subject, "alice");

  clock.advance(59999ms);
  Probe hit;
  EXPECT_EQ(cache.lookup(key, hit.waiter()), Lookup::HitPositive);
  ASSERT_EQ(hit.calls, 1);  // called before lookup returned
  EXPECT_EQ(hit.got->result.identity.subject, "alice");

  clock.advance(1ms);  // the entry ends
  Probe again;
  EXPECT_EQ(cache.lookup(key, again.waiter()), Lookup::Leader);
  EXPECT_EQ(again.calls, 0);
}

TEST(IntrospectionCache, FindSeesLiveEntriesOnly) {
  FakeClock clock;
  IntrospectionCache cache(10, clock.steady());
  const auto key = token_key("t");
  EXPECT_EQ(cache.find(key), nullptr);
  Probe p;
  cache.lookup(key, p.waiter());
  EXPECT_EQ(cache.find(key), nullptr);  // in flight is not cached
  cache.complete(key, positive("bob"), 5s);
  ASSERT_NE(cache.find(key), nullptr);
  EXPECT_EQ(cache.find(key)->result.identity.subject, "bob");
  clock.advance(5s);
  EXPECT_EQ(cache.find(key), nullptr);
}

TEST(IntrospectionCache, NegativeAnswerIsAHitOfItsOwnKind) {
  FakeClock clock;
  IntrospectionCache cache(10, clock.steady());
  const auto key = token_key("revoked");
  Probe p;
  cache.lookup(key, p.waiter());
  cache.complete(key, negative(), 10s);
  Probe hit;
  EXPECT_EQ(cache.lookup(key, hit.waiter()), Lookup::HitNegative);
  EXPECT_EQ(hit.got->result.status, Status::InactiveCredential);
  clock.advance(10s);
  Probe miss;
  EXPECT_EQ(cache.lookup(key, miss.waiter()), Lookup::Leader);
}

TEST(IntrospectionCache, ZeroTtlAnswersTheWaitersButStoresNothing) {
  FakeClock clock;
  IntrospectionCache cache(10, clock.steady());
  const auto key = token_key("t");
  Probe a, b;
  ASSERT_EQ(cache.lookup(key, a.waiter()), Lookup::Leader);
  ASSERT_EQ(cache.lookup(key, b.waiter()), Lookup::Joined);
  cache.complete(key, negative(), 0s);
  EXPECT_EQ(a.calls, 1);
  EXPECT_EQ(b.calls, 1);
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.in_flight(), 0u);
  Probe c;
  EXPECT_EQ(cache.lookup(key, c.waiter()), Lookup::Leader);
}

TEST(IntrospectionCache, LeastRecentlyUsedEntryGoesFirstAndTheBoundHolds) {
  FakeClock clock;
  IntrospectionCache cache(3, clock.steady());
  auto put = [&](const std::string& t) {
    Probe p;
    const auto k = token_key(t);
    EXPECT_EQ(cache.lookup(k, p.waiter()), Lookup::Leader);
    cache.complete(k, positive(t), 60s);
  };
  put("a");
  put("b");
  put("c");
  Probe touch;
  ASSERT_EQ(cache.lookup(token_key("a"), touch.waiter()), Lookup::HitPositive);  // a is recent
  put("d");  // evicts b, the least recently used
  EXPECT_EQ(cache.size(), 3u);
  Probe pa, pb, pc, pd;
  EXPECT_EQ(cache.lookup(token_key("a"), pa.waiter()), Lookup::HitPositive);
  EXPECT_EQ(cache.lookup(token_key("c"), pc.waiter()), Lookup::HitPositive);
  EXPECT_EQ(cache.lookup(token_key("d"), pd.waiter()), Lookup::HitPositive);
  EXPECT_EQ(cache.lookup(token_key("b"), pb.waiter()), Lookup::Leader);
}

TEST(IntrospectionCache, ShardedCacheNeverHoldsMoreThanItsCapacity) {
  IntrospectionCache cache(2048);
  for (int i = 0; i < 10000; ++i) {
    const auto k = token_key("token-" + std::to_string(i));
    Probe p;
    ASSERT_EQ(cache.lookup(k, p.waiter()), Lookup::Leader);
    cache.complete(k, positive("x"), 60s);
  }
  EXPECT_EQ(cache.size(), 2048u);
}

TEST(IntrospectionCache, ConcurrentMissesOfOneTokenCoalesceIntoOneLeader) {
  IntrospectionCache cache(100);
  const auto key = token_key("shared-token");
  constexpr int kThreads = 64;
  std::atomic<int> leaders{0}, joined{0}, answered{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      auto r = cache.lookup(key, [&](const DecisionPtr& d) {
        if (d->result.identity.subject == "alice") ++answered;
      });
      if (r == Lookup::Leader) ++leaders;
      if (r == Lookup::Joined) ++joined;
    });
  }
  go = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(leaders.load(), 1);
  EXPECT_EQ(joined.load(), kThreads - 1);
  EXPECT_EQ(answered.load(), 0);
  EXPECT_EQ(cache.in_flight(), 1u);
  cache.complete(key, positive("alice"), 60s);
  EXPECT_EQ(answered.load(), kThreads);
  EXPECT_EQ(cache.in_flight(), 0u);
}

TEST(IntrospectionCache, ConcurrentMissesOfManyTokensGetOneLeaderEach) {
  IntrospectionCache cache(5000);
  constexpr int kTokens = 500;
  std::atomic<int> leaders{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kTokens; ++i) {
        const auto k = token_key("tok" + std::to_string(i));
        if (cache.lookup(k, [](const DecisionPtr&) {}) == Lookup::Leader) ++leaders;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(leaders.load(), kTokens);
}

}  // namespace
}  // namespace portcullis::auth::oauth2
