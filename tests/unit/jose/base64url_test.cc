// Strict base64url: exactly one accepted encoding per byte string.
#include "jose/base64url.h"

#include <gtest/gtest.h>

namespace portcullis::jose {
namespace {

std::string dec(std::string_view in, bool* ok = nullptr) {
  std::string out;
  bool r = base64url_decode(in, out);
  if (ok) *ok = r;
  return r ? out : std::string("<fail>");
}

TEST(Base64UrlTest, RoundTripsEveryLength) {
  std::string data;
  for (int i = 0; i < 70; ++i) {
    std::string enc = base64url_encode(data);
    EXPECT_EQ(enc.find('='), std::string::npos);
    EXPECT_EQ(dec(enc), data) << enc;
    data.push_back(static_cast<char>(i * 37 + 250));
  }
}

TEST(Base64UrlTest, DecodesKnownValues) {
  EXPECT_EQ(dec(""), "");
  EXPECT_EQ(dec("QQ"), "A");
  EXPECT_EQ(dec("QUI"), "AB");
  EXPECT_EQ(dec("QUJD"), "ABC");
  EXPECT_EQ(dec("-_8"), std::string("\xfb\xff", 2));
}

TEST(Base64UrlTest, RefusesPaddingAndOtherAlphabets) {
  bool ok = true;
  for (const char* bad : {"QQ==", "QUI=", "QQ=", "+_8", "/_8", "QU I", "QUI\n", "QU.I", "Q",
                          "QUJDR", "QUJ\xc3\xa9"}) {
    dec(bad, &ok);
    EXPECT_FALSE(ok) << bad;
  }
  std::string with_nul("QU\0I", 4);
  dec(with_nul, &ok);
  EXPECT_FALSE(ok);
}

TEST(Base64UrlTest, RefusesNonCanonicalTrailingBits) {
  bool ok = true;
  // "QR" and "QQ" would both decode to "A": only the one with zero spare bits is accepted.
  dec("QR", &ok);
  EXPECT_FALSE(ok);
  dec("QUJ", &ok);  // canonical is "QUI"
  EXPECT_FALSE(ok);
  dec("QUI", &ok);
  EXPECT_TRUE(ok);
}

}  // namespace
}  // namespace portcullis::jose
