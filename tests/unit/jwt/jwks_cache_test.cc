// The remote key set: first fetch and readiness, refresh schedule, kid-miss refetch with
// cooldown and shared fetches, stale keys and the max-stale limit.
#include "auth/jwt/jwks_cache.h"

#include <gtest/gtest.h>

#include "fakes.h"
#include "../jose/test_keys.h"

namespace portcullis::auth::jwt {
namespace {

using namespace jose;  // the JOSE vocabulary the mechanism is written in

using namespace testing;
using namespace jose::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;

class JwksCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log = std::make_shared<FetchLog>();
    scheduler = std::make_shared<FakeScheduler>();
    JwksOptions o;
    o.provider = "test";
    o.refresh = seconds(300);
    o.min_refresh = seconds(30);
    o.max_refresh = seconds(3600);
    o.refetch_cooldown = seconds(10);
    o.max_stale = seconds(1000);
    cache = JwksCache::create(o, std::make_unique<FakeFetcher>(log), scheduler, clock.fn());
  }

  // Starts the pending fetches and answers the oldest one.
  void answer(FetchResult r) {
    scheduler->run_immediate();
    std::function<void(FetchResult)> done;
    {
      std::lock_guard lock(log->mu);
      ASSERT_FALSE(log->pending.empty()) << "no fetch to answer";
      done = std::move(log->pending.front());
      log->pending.erase(log->pending.begin());
    }
    done(std::move(r));
  }
  void answer_keys(std::initializer_list<const Key*> keys, std::optional<unsigned> max_age = {}) {
    answer({true, jwks_of(keys), max_age, {}});
  }
  void answer_failure() { answer({false, {}, {}, "connection refused"}); }
  int fetches() {
    scheduler->run_immediate();
    std::lock_guard lock(log->mu);
    return log->started;
  }
  LookupResult lookup(std::string kid, Alg alg = Alg::RS256) {
    return cache->try_lookup(std::string_view(kid), alg);
  }

  FakeClock clock;
  std::shared_ptr<FetchLog> log;
  std::shared_ptr<FakeScheduler> scheduler;
  std::shared_ptr<JwksCache> cache;
  Key k1 = rsa_key(2048, "k1");
  Key k2 = rsa_key(2048, "k2");
};

TEST_F(JwksCacheTest, NotReadyUntilTheFirstSuccessfulFetch) {
  EXPECT_FALSE(cache->ready());
  EXPECT_EQ(cache->not_ready_reason(), "no keys yet");
  cache->start();
  EXPECT_EQ(fetches(), 1);
  EXPECT_EQ(lookup("k1").status, KeyLookup::NotReady);
  answer_failure();
  EXPECT_FALSE(cache->ready());
  EXPECT_EQ(lookup("k1").status, KeyLookup::NotReady);  // 503, never 401
  // Retried with a backoff from 1 s.
  EXPECT_EQ(scheduler->delays(), std::vector<milliseconds>{milliseconds(1000)});
  clock.advance(seconds(1));
  scheduler->fire_delayed();
  answer_keys({&k1});
  EXPECT_TRUE(cache->ready());
  EXPECT_EQ(cache->not_ready_reason(), "");
  EXPECT_EQ(lookup("k1").status, KeyLookup::Found);
  EXPECT_EQ(cache->key_count(), 1u);
}

TEST_F(JwksCacheTest, RefreshHonoursMaxAgeWithinBounds) {
  cache->start();
  answer_keys({&k1});
  EXPECT_EQ(scheduler->delays(), std::vector<milliseconds>{seconds(300)});  // jwks_refresh_s
  scheduler->fire_delayed();
  answer_keys({&k1}, 5);  // max-age below the minimum
  EXPECT_EQ(scheduler->delays(), std::vector<milliseconds>{seconds(30)});
  scheduler->fire_delayed();
  answer_keys({&k1}, 100000);  // above the maximum
  EXPECT_EQ(scheduler->delays(), std::vector<milliseconds>{seconds(3600)});
  scheduler->fire_delayed();
  answer_keys({&k1}, 120);
  EXPECT_EQ(scheduler->delays(), std::vector<milliseconds>{seconds(120)});
  EXPECT_EQ(fetches(), 4);
}

TEST_F(JwksCacheTest, UnknownKidRefetchesOnceAndFindsTheNewKey) {
  cache->start();
  answer_keys({&k1});
  EXPECT_EQ(lookup("k2").status, KeyLookup::NeedFetch);
  std::vector<LookupResult> answers;
  cache->lookup_async(std::string("k2"), Alg::RS256, [&](LookupResult r) { answers.push_back(r); });
  EXPECT_EQ(fetches(), 2);
  EXPECT_TRUE(answers.empty());  // waits for the fetch
  answer_keys({&k1, &k2});
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].status, KeyLookup::Found);
  EXPECT_EQ(answers[0].key->kid, "k2");
  EXPECT_EQ(lookup("k2").status, KeyLookup::Found);
}

TEST_F(JwksCacheTest, ConcurrentMissesShareOneFetch) {
  cache->start();
  answer_keys({&k1});
  std::vector<LookupResult> answers;
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(lookup(i % 2 ? "k2" : "k3").status, KeyLookup::NeedFetch);
    cache->lookup_async(std::string(i % 2 ? "k2" : "k3"), Alg::RS256,
                        [&](LookupResult r) { answers.push_back(r); });
  }
  EXPECT_EQ(fetches(), 2);  // the first and one refetch
  answer_keys({&k1, &k2});
  ASSERT_EQ(answers.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(answers[i].status, i % 2 ? KeyLookup::Found : KeyLookup::UnknownKey) << i;
  }
}

TEST_F(JwksCacheTest, RefetchCooldownLimitsFetchesForUnknownKids) {
  cache->start();
  answer_keys({&k1});
  cache->lookup_async(std::string("x1"), Alg::RS256, [](LookupResult) {});
  answer_keys({&k1});
  EXPECT_EQ(fetches(), 2);
  // Within the cooldown an unknown kid is answered from memory: no fetch.
  clock.advance(seconds(9));
  EXPECT_EQ(lookup("x2").status, KeyLookup::UnknownKey);
  LookupResult late;
  cache->lookup_async(std::string("x2"), Alg::RS256, [&](LookupResult r) { late = r; });
  EXPECT_EQ(late.status, KeyLookup::UnknownKey);
  EXPECT_EQ(fetches(), 2);
  clock.advance(seconds(1));
  EXPECT_EQ(lookup("x3").status, KeyLookup::NeedFetch);
}

TEST_F(JwksCacheTest, MissesJoinABackgroundRefreshInFlight) {
  cache->start();
  answer_keys({&k1});
  scheduler->fire_delayed();  // the 300 s refresh starts
  EXPECT_EQ(fetches(), 2);
  EXPECT_TRUE(cache->fetch_in_flight());
  std::optional<LookupResult> got;
  cache->lookup_async(std::string("k2"), Alg::RS256, [&](LookupResult r) { got = r; });
  EXPECT_EQ(fetches(), 2);  // joined, not a new one
  answer_keys({&k2});
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, KeyLookup::Found);
  // Rotation: k1 was removed from the set.
  EXPECT_EQ(lookup("k1").status, KeyLookup::NeedFetch);
}

TEST_F(JwksCacheTest, StaleKeysKeepWorkingUntilMaxStale) {
  cache->start();
  answer_keys({&k1});
  for (int i = 0; i < 5; ++i) {
    clock.advance(seconds(100));
    scheduler->fire_delayed();
    answer_failure();
  }
  EXPECT_EQ(lookup("k1").status, KeyLookup::Found);  // 500 s old, limit 1000 s
  EXPECT_TRUE(cache->ready());
  EXPECT_EQ(cache->not_ready_reason(), "");
  clock.advance(seconds(501));
  // Past max-stale: still "ready" (keys were fetched once), but /readyz says why it cannot
  // serve.
  EXPECT_EQ(cache->not_ready_reason(), "keys older than jwks_max_stale_s");
  EXPECT_EQ(lookup("k1").status, KeyLookup::Unavailable);
  // A request past max-stale asks for a fetch (once per cooldown); success restores service.
  answer_keys({&k1});
  EXPECT_EQ(lookup("k1").status, KeyLookup::Found);
  EXPECT_EQ(cache->not_ready_reason(), "");
}

TEST_F(JwksCacheTest, AFailedRefetchMakesUnknownKidsUnavailableNotUnknown) {
  cache->start();
  answer_keys({&k1});
  std::optional<LookupResult> got;
  cache->lookup_async(std::string("k2"), Alg::RS256, [&](LookupResult r) { got = r; });
  answer_failure();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, KeyLookup::Unavailable);
  EXPECT_EQ(lookup("k1").status, KeyLookup::Found);  // known keys still serve
  clock.advance(seconds(10));
  cache->lookup_async(std::string("k2"), Alg::RS256, [&](LookupResult r) { got = r; });
  answer_keys({&k1});
  EXPECT_EQ(got->status, KeyLookup::UnknownKey);
}

TEST_F(JwksCacheTest, ABadDocumentIsAFailedFetch) {
  cache->start();
  answer({true, "{\"keys\": 5}", {}, {}});
  EXPECT_FALSE(cache->ready());
  scheduler->fire_delayed();
  answer({true, R"({"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]})", {}, {}});
  EXPECT_FALSE(cache->ready());  // no usable key: an HMAC key is never taken from a JWKS
  scheduler->fire_delayed();
  answer_keys({&k1});
  EXPECT_TRUE(cache->ready());
}

TEST_F(JwksCacheTest, DestroyedCacheIgnoresLateAnswers) {
  cache->start();
  scheduler->run_immediate();
  std::function<void(FetchResult)> done;
  {
    std::lock_guard lock(log->mu);
    done = std::move(log->pending.front());
  }
  cache.reset();
  done({true, jwks_of({&k1}), {}, {}});  // must not crash
  scheduler->fire_delayed();
}

TEST(CacheControlTest, MaxAge) {
  EXPECT_EQ(cache_control_max_age("public, max-age=600"), 600u);
  EXPECT_EQ(cache_control_max_age("MAX-AGE=\"60\""), 60u);
  EXPECT_EQ(cache_control_max_age("no-store"), 0u);
  EXPECT_EQ(cache_control_max_age("max-age=60, no-cache"), 0u);
  EXPECT_FALSE(cache_control_max_age("public").has_value());
  EXPECT_FALSE(cache_control_max_age("max-age=abc").has_value());
}

}  // namespace
}  // namespace portcullis::auth::jwt
