// The credential extractor: where each mechanism finds its credential, how many places a
// request used, and what is removed before the request goes upstream.
#include "auth/credential_extractor.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace portcullis::auth {
namespace {

namespace http = boost::beast::http;
using From = Credential::From;

CredentialExtractor api_key_places() {
  return CredentialExtractor({"ApiKey", true, {"X-API-Key"}, {}, std::string("api_key")});
}

CredentialExtractor bearer_places() {
  return CredentialExtractor({"Bearer", false, {"X-Token"}, {"session"}, std::string("at")});
}

TEST(CredentialExtractor, SchemeIsCaseInsensitiveAndTheValueTrimmed) {
  http::fields h;
  h.set(http::field::authorization, "  bearer   tok  ");
  auto c = CredentialExtractor({"Bearer"}).extract(h, "/");
  ASSERT_TRUE(c.found());
  EXPECT_FALSE(c.ambiguous());
  EXPECT_EQ(c.from(), From::Authorization);
  EXPECT_EQ(c.value(), "tok");
}

TEST(CredentialExtractor, TheSchemeAloneIsAnEmptyCredentialAndAnotherSchemeIsNone) {
  http::fields h;
  h.set(http::field::authorization, "ApiKey");
  auto c = api_key_places().extract(h, "/");
  ASSERT_TRUE(c.found());
  EXPECT_EQ(c.value(), "");
  h.set(http::field::authorization, "Basic dXNlcjpwdw==");
  EXPECT_FALSE(api_key_places().extract(h, "/").found());
  EXPECT_FALSE(CredentialExtractor().extract(h, "/").found()) << "looks nowhere";
}

TEST(CredentialExtractor, NamedHeaderCaseInsensitive) {
  http::fields h;
  h.insert("x-api-key", " ptk_abc ");
  auto c = api_key_places().extract(h, "/");
  ASSERT_TRUE(c.found());
  EXPECT_EQ(c.from(), From::Header);
  EXPECT_EQ(c.value(), "ptk_abc");
}

TEST(CredentialExtractor, QueryParameterIsDecoded) {
  http::fields h;
  auto c = api_key_places().extract(h, "/v1/orders?x=1&api_key=a%2Bb");
  ASSERT_TRUE(c.found());
  EXPECT_EQ(c.from(), From::Query);
  EXPECT_EQ(c.value(), "a+b");
  EXPECT_FALSE(api_key_places().extract(h, "/v1/orders?apikey=1").found());
}

TEST(CredentialExtractor, CookieIsOnePlacePerCookieHeader) {
  http::fields h;
  h.insert(http::field::cookie, "theme=dark; session=\"abc\"");
  auto c = bearer_places().extract(h, "/");
  ASSERT_TRUE(c.found());
  EXPECT_FALSE(c.ambiguous());
  EXPECT_EQ(c.from(), From::Cookie);
  EXPECT_EQ(c.value(), "abc");
}

TEST(CredentialExtractor, MoreThanOnePlaceIsAmbiguous) {
  http::fields h;
  h.set(http::field::authorization, "Bearer a");
  h.insert("X-Token", "b");
  EXPECT_TRUE(bearer_places().extract(h, "/").ambiguous());
  http::fields q;
  EXPECT_TRUE(bearer_places().extract(q, "/?at=1&at=2").ambiguous());
  http::fields two;
  two.insert("X-API-Key", "a");
  two.insert("Accept", "*/*");
  two.insert("X-API-Key", "b");  // not adjacent: still seen
  EXPECT_TRUE(api_key_places().extract(two, "/").ambiguous());
}

TEST(CredentialExtractor, AuthorizationNeverCountsAsANamedHeader) {
  http::fields h;
  h.set(http::field::authorization, "Bearer tok");
  CredentialExtractor x({"ApiKey", true, {"Authorization"}, {}, {}});
  EXPECT_FALSE(x.extract(h, "/").found());
}

TEST(CredentialExtractor, RemoveTakesEveryPlaceAndLeavesTheRest) {
  http::fields h;
  h.insert("X-API-Key", "k");
  h.set(http::field::authorization, "ApiKey k");
  h.insert("Accept", "*/*");
  std::string target = "/v1?a=1&api_key=k&b=2";
  api_key_places().remove(h, target);
  EXPECT_EQ(h.count("X-API-Key"), 0u);
  EXPECT_EQ(h.count(http::field::authorization), 0u) << "an API key is never forwarded";
  EXPECT_EQ(h.count("Accept"), 1u);
  EXPECT_EQ(target, "/v1?a=1&b=2");
  std::string only = "/v1?api_key=k";
  api_key_places().remove(h, only);
  EXPECT_EQ(only, "/v1");
}

TEST(CredentialExtractor, RemoveLeavesABearerAuthorizationToTheForwarder) {
  http::fields h;
  h.set(http::field::authorization, "Bearer t");
  h.insert("X-Token", "t");
  std::string target = "/";
  bearer_places().remove(h, target);
  EXPECT_EQ(h.count(http::field::authorization), 1u);
  EXPECT_EQ(h.count("X-Token"), 0u);
}

TEST(CredentialExtractor, RemoveRewritesCookieHeadersWithoutTheCredential) {
  http::fields h;
  h.insert(http::field::cookie, "theme=dark; session=abc; lang=en");
  h.insert(http::field::cookie, "session=abc");
  h.insert(http::field::cookie, "other=1");
  std::string target = "/";
  bearer_places().remove(h, target);
  std::vector<std::string> cookies;
  for (const auto& f : h) {
    if (f.name() == http::field::cookie) cookies.emplace_back(f.value());
  }
  std::sort(cookies.begin(), cookies.end());
  EXPECT_EQ(cookies, (std::vector<std::string>{"other=1", "theme=dark; lang=en"}));
}

TEST(CredentialExtractor, RemoveLeavesATargetWithoutTheParameterAsItWas) {
  http::fields h;
  std::string target = "/a%2Fb?x=%41";
  api_key_places().remove(h, target);
  EXPECT_EQ(target, "/a%2Fb?x=%41");
}

}  // namespace
}  // namespace portcullis::auth
