// The verified-token cache: bounded, expiring, and re-checking exp/nbf on every hit.
#include "auth/jwt/token_cache.h"

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "jose/verifier.h"

namespace portcullis::auth::jwt {
namespace {

using namespace jose;  // the JOSE vocabulary the mechanism is written in

constexpr std::int64_t kNow = 1'800'000'000;

TokenDigest digest(int i) {
  TokenDigest d;
  sha256("token-" + std::to_string(i), d.data());
  return d;
}

CachedToken entry(std::string sub, std::int64_t exp, std::int64_t expires_at) {
  CachedToken e;
  e.identity.subject = std::move(sub);
  e.identity.auth_method = "jwt";
  e.times.exp = exp;
  e.expires_at = expires_at;
  return e;
}

TEST(TokenCacheTest, HitReturnsTheIdentity) {
  TokenCache cache(100, 0);
  cache.put(digest(1), entry("42", kNow + 100, kNow + 100));
  identity::Identity id;
  ASSERT_TRUE(cache.get(digest(1), kNow, id));
  EXPECT_EQ(id.subject, "42");
  EXPECT_FALSE(cache.get(digest(2), kNow, id));
}

TEST(TokenCacheTest, EntriesExpireAtTheirDeadline) {
  TokenCache cache(100, 0);
  cache.put(digest(1), entry("a", kNow + 1000, kNow + 300));  // cache_max_s before exp
  identity::Identity id;
  EXPECT_TRUE(cache.get(digest(1), kNow + 299, id));
  EXPECT_FALSE(cache.get(digest(1), kNow + 300, id));
  EXPECT_EQ(cache.size(), 0u);  // dropped on the way
}

TEST(TokenCacheTest, AHitStillChecksExpAndNbf) {
  TokenCache cache(100, 0);
  // An entry whose deadline is (wrongly) past its exp: the hit checks exp itself.
  cache.put(digest(1), entry("a", kNow + 10, kNow + 1000));
  identity::Identity id;
  EXPECT_TRUE(cache.get(digest(1), kNow + 9, id));
  EXPECT_FALSE(cache.get(digest(1), kNow + 10, id));
  CachedToken nbf = entry("b", kNow + 100, kNow + 100);
  nbf.times.nbf = kNow + 50;  // the clock went back
  cache.put(digest(2), nbf);
  EXPECT_FALSE(cache.get(digest(2), kNow, id));
  // With skew, a token is good until exp + skew.
  TokenCache skewed(100, 60);
  skewed.put(digest(3), entry("c", kNow + 10, kNow + 1000));
  EXPECT_TRUE(skewed.get(digest(3), kNow + 69, id));
  EXPECT_FALSE(skewed.get(digest(3), kNow + 70, id));
}

TEST(TokenCacheTest, BoundedLeastRecentlyUsed) {
  const std::size_t capacity = 64;
  TokenCache cache(capacity, 0);
  for (int i = 0; i < 1000; ++i) cache.put(digest(i), entry(std::to_string(i), kNow + 100, kNow + 100));
  EXPECT_LE(cache.size(), capacity);
  EXPECT_GE(cache.size(), capacity - TokenCache::kShards);
  // The most recent entries are still there; the first ones are gone.
  identity::Identity id;
  EXPECT_TRUE(cache.get(digest(999), kNow, id));
  EXPECT_FALSE(cache.get(digest(0), kNow, id));
}

TEST(TokenCacheTest, RecentlyUsedSurvivesEviction) {
  TokenCache cache(1, 0);  // one shard, one entry
  identity::Identity id;
  cache.put(digest(1), entry("1", kNow + 100, kNow + 100));
  cache.put(digest(2), entry("2", kNow + 100, kNow + 100));
  EXPECT_FALSE(cache.get(digest(1), kNow, id));
  EXPECT_TRUE(cache.get(digest(2), kNow, id));

  TokenCache lru(TokenCache::kShards * 2, 0);
  // Fill one shard (2 entries per shard) with a, b; touch a; add c: b goes.
  std::vector<int> same_shard;
  for (int i = 0; same_shard.size() < 3; ++i) {
    if (digest(i)[31] % TokenCache::kShards == 0) same_shard.push_back(i);
  }
  lru.put(digest(same_shard[0]), entry("a", kNow + 100, kNow + 100));
  lru.put(digest(same_shard[1]), entry("b", kNow + 100, kNow + 100));
  ASSERT_TRUE(lru.get(digest(same_shard[0]), kNow, id));
  lru.put(digest(same_shard[2]), entry("c", kNow + 100, kNow + 100));
  EXPECT_TRUE(lru.get(digest(same_shard[0]), kNow, id));
  EXPECT_FALSE(lru.get(digest(same_shard[1]), kNow, id));
  EXPECT_TRUE(lru.get(digest(same_shard[2]), kNow, id));
}

TEST(TokenCacheTest, ZeroDisables) {
  TokenCache cache(0, 0);
  EXPECT_FALSE(cache.enabled());
  cache.put(digest(1), entry("a", kNow + 100, kNow + 100));
  identity::Identity id;
  EXPECT_FALSE(cache.get(digest(1), kNow, id));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(TokenCacheTest, SafeUnderConcurrentUse) {
  TokenCache cache(1000, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      identity::Identity id;
      for (int i = 0; i < 5000; ++i) {
        int k = (i * 7 + t) % 3000;
        if (!cache.get(digest(k), kNow, id)) cache.put(digest(k), entry("x", kNow + 100, kNow + 100));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_LE(cache.size(), 1000u);
}

}  // namespace
}  // namespace portcullis::auth::jwt
