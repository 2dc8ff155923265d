#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "auth/api_key/secret_hash.h"
#include "auth/api_key/time_format.h"

namespace portcullis::auth::api_key {
namespace {

std::string hex(const Digest& d) {
  static const char* k = "0123456789abcdef";
  std::string s;
  for (unsigned char c : d) {
    s.push_back(k[c >> 4]);
    s.push_back(k[c & 15]);
  }
  return s;
}

TEST(SecretHash, MatchesRfc4231TestCase2) {
  std::string error;
  auto h = SecretHasher::create("Jefe", error);
  ASSERT_TRUE(h) << error;
  Digest d;
  ASSERT_TRUE(h->hash("what do ya want for nothing?", d));
  EXPECT_EQ(hex(d), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // The keyed context is reused: a second hash is the same, not a continuation.
  Digest again;
  ASSERT_TRUE(h->hash("what do ya want for nothing?", again));
  EXPECT_EQ(hex(again), hex(d));
}

TEST(SecretHash, PepperChangesEverything) {
  std::string error;
  auto a = SecretHasher::create("pepper-one-0123456789", error);
  auto b = SecretHasher::create("pepper-two-0123456789", error);
  Digest da, db, fa, fb;
  ASSERT_TRUE(a->hash("secret", da));
  ASSERT_TRUE(b->hash("secret", db));
  EXPECT_FALSE(digest_equal(da, db));
  ASSERT_TRUE(a->fingerprint(fa));
  ASSERT_TRUE(b->fingerprint(fb));
  EXPECT_FALSE(digest_equal(fa, fb));
  EXPECT_FALSE(digest_equal(fa, da));
}

TEST(SecretHash, ConstantTimeCompare) {
  Digest a{}, b{};
  a[0] = 1;
  b[0] = 1;
  EXPECT_TRUE(digest_equal(a, b));
  b[31] = 2;
  EXPECT_FALSE(digest_equal(a, b));
  EXPECT_TRUE(digest_equal(a, std::string_view(reinterpret_cast<const char*>(a.data()), 32)));
  EXPECT_FALSE(digest_equal(a, std::string_view(reinterpret_cast<const char*>(a.data()), 31)));
  EXPECT_FALSE(digest_equal(a, std::string_view()));
}

TEST(SecretHash, ConcurrentHashesAgree) {
  std::string error;
  auto h = SecretHasher::create("a-pepper-of-some-length", error);
  Digest expect;
  ASSERT_TRUE(h->hash("the same secret", expect));
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        Digest d;
        if (!h->hash("the same secret", d) || !digest_equal(d, expect)) ++bad;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(TimeFormat, Rfc3339) {
  EXPECT_EQ(parse_time("2027-01-31T00:00:00Z"), 1801353600);
  EXPECT_EQ(format_time(1801353600), "2027-01-31T00:00:00Z");
  EXPECT_EQ(parse_time("2027-01-31T01:00:00+01:00"), 1801353600);
  EXPECT_EQ(parse_time("2027-01-30T19:00:00-05:00"), 1801353600);
  EXPECT_EQ(parse_time("2027-01-31T00:00:00.250Z"), 1801353600);
  EXPECT_EQ(parse_time("2027-01-31"), 1801353600);
  EXPECT_EQ(parse_time("2028-02-29T00:00:00Z"), 1835395200);
  for (std::string_view bad :
       {"", "2027-01-31T00:00:00", "2027-13-01", "2027-02-29", "2027-01-31T24:00:00Z", "31/01/2027",
        "2027-01-31T00:00Z", "2027-01-31T00:00:00+0100", "tomorrow"}) {
    EXPECT_FALSE(parse_time(bad)) << bad;
  }
}

TEST(TimeFormat, Durations) {
  EXPECT_EQ(parse_duration("7d"), 7 * 86400);
  EXPECT_EQ(parse_duration("12h"), 12 * 3600);
  EXPECT_EQ(parse_duration("30m"), 1800);
  EXPECT_EQ(parse_duration("2s"), 2);
  EXPECT_EQ(parse_duration("1d12h"), 86400 + 12 * 3600);
  EXPECT_EQ(parse_duration("2w"), 14 * 86400);
  EXPECT_EQ(parse_duration("0"), 0);
  for (std::string_view bad : {"", "7", "d", "7x", "-1d", "1.5h", "7d ", "99999999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad)) << bad;
  }
}

}  // namespace
}  // namespace portcullis::auth::api_key
