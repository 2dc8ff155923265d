#include "auth/api_key/key_format.h"

#include <gtest/gtest.h>

#include <set>

namespace portcullis::auth::api_key {
namespace {

TEST(KeyFormat, GeneratedKeyHasTheDocumentedShape) {
  GeneratedKey k;
  ASSERT_TRUE(generate_key(k));
  EXPECT_EQ(k.key.size(), kKeyLength);
  EXPECT_EQ(k.key.size(), 66u);
  EXPECT_TRUE(k.key.starts_with("ptk_"));
  EXPECT_EQ(k.id.size(), 12u);
  EXPECT_EQ(k.secret.size(), 43u);
  EXPECT_EQ(k.key.substr(4, 12), k.id);
  EXPECT_EQ(k.key[16], '_');
  EXPECT_EQ(k.key.substr(17, 43), k.secret);
  ParsedKey p;
  ASSERT_EQ(parse_key(k.key, p), ParseError::None);
  EXPECT_EQ(p.id, k.id);
  EXPECT_EQ(p.secret, k.secret);
}

TEST(KeyFormat, GeneratedKeysDiffer) {
  std::set<std::string> ids, secrets;
  for (int i = 0; i < 1000; ++i) {
    GeneratedKey k;
    ASSERT_TRUE(generate_key(k));
    ids.insert(k.id);
    secrets.insert(k.secret);
  }
  EXPECT_EQ(ids.size(), 1000u);
  EXPECT_EQ(secrets.size(), 1000u);
}

TEST(KeyFormat, RandomBase62IsRoughlyUniform) {
  // Rejection sampling: every one of the 62 characters about equally likely (no modulo bias
  // towards the first 8). 62,000 draws: each count ~1000, sd ~31.
  std::string s;
  ASSERT_TRUE(random_base62(62000, s));
  std::array<int, 128> counts{};
  for (char c : s) counts[static_cast<unsigned char>(c)]++;
  int seen = 0;
  for (int c = 0; c < 128; ++c) {
    if (counts[c] == 0) continue;
    ++seen;
    EXPECT_GT(counts[c], 800) << static_cast<char>(c);
    EXPECT_LT(counts[c], 1200) << static_cast<char>(c);
  }
  EXPECT_EQ(seen, 62);
  EXPECT_TRUE(is_base62(s));
}

TEST(KeyFormat, ChecksumIsSixBase62CharsOfCrc32) {
  // CRC32("ptk_") = 0x6E0A0D3C... whatever it is, it is stable and fixed-width.
  std::string c = checksum("ptk_000000000000_" + std::string(43, 'a'));
  EXPECT_EQ(c.size(), 6u);
  EXPECT_TRUE(is_base62(c));
  EXPECT_EQ(c, checksum("ptk_000000000000_" + std::string(43, 'a')));
  // Known value: CRC32("123456789") = 0xCBF43926 = 3421780262 -> base62 "3jkTSq"... computed
  // independently below.
  std::uint64_t v = 0xCBF43926u;
  std::string expect(6, '0');
  const std::string_view alphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  for (int i = 5; i >= 0; --i) {
    expect[static_cast<std::size_t>(i)] = alphabet[v % 62];
    v /= 62;
  }
  EXPECT_EQ(checksum("123456789"), expect);
}

TEST(KeyFormat, EveryMistypedCharacterIsRefused) {
  GeneratedKey k;
  ASSERT_TRUE(generate_key(k));
  const std::string_view alphabet =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  int tried = 0;
  for (std::size_t i = 0; i < k.key.size(); ++i) {
    for (char c : alphabet) {
      if (c == k.key[i]) continue;
      std::string typo = k.key;
      typo[i] = c;
      ParsedKey p;
      EXPECT_NE(parse_key(typo, p), ParseError::None) << "position " << i << " -> " << c;
      ++tried;
    }
  }
  EXPECT_GT(tried, 60 * 60);
}

TEST(KeyFormat, TransposedNeighboursAreRefused) {
  GeneratedKey k;
  ASSERT_TRUE(generate_key(k));
  for (std::size_t i = 17; i + 1 < k.key.size(); ++i) {
    if (k.key[i] == k.key[i + 1]) continue;
    std::string typo = k.key;
    std::swap(typo[i], typo[i + 1]);
    ParsedKey p;
    EXPECT_NE(parse_key(typo, p), ParseError::None) << i;
  }
}

TEST(KeyFormat, ShapeErrorsAreNamed) {
  GeneratedKey k;
  ASSERT_TRUE(generate_key(k));
  ParsedKey p;
  EXPECT_EQ(parse_key("", p), ParseError::WrongPrefix);
  EXPECT_EQ(parse_key("Bearer abc", p), ParseError::WrongPrefix);
  EXPECT_EQ(parse_key("PTK_" + k.key.substr(4), p), ParseError::WrongPrefix);
  EXPECT_EQ(parse_key(k.key.substr(0, 65), p), ParseError::WrongLength);
  EXPECT_EQ(parse_key(k.key + "a", p), ParseError::WrongLength);
  std::string bad = k.key;
  bad[20] = '-';
  EXPECT_EQ(parse_key(bad, p), ParseError::BadCharacter);
  bad = k.key;
  bad[16] = 'x';
  EXPECT_EQ(parse_key(bad, p), ParseError::BadCharacter);
  bad = k.key;
  bad[30] = '\0';
  EXPECT_EQ(parse_key(bad, p), ParseError::BadCharacter);
  // A key rebuilt with the checksum of another body.
  std::string other = make_key(k.id, std::string(43, 'Z'));
  bad = k.key.substr(0, 60) + other.substr(60);
  if (bad != k.key) {
    EXPECT_EQ(parse_key(bad, p), ParseError::BadChecksum);
  }
}

TEST(KeyFormat, MakeKeyRoundTrips) {
  std::string key = make_key("abcdefABCDEF", std::string(43, '7'));
  ParsedKey p;
  ASSERT_EQ(parse_key(key, p), ParseError::None);
  EXPECT_EQ(p.id, "abcdefABCDEF");
  EXPECT_TRUE(valid_key_id("abcdefABCDEF"));
  EXPECT_FALSE(valid_key_id("abcdefABCDE"));
  EXPECT_FALSE(valid_key_id("abcdefABCDE_"));
}

}  // namespace
}  // namespace portcullis::auth::api_key
