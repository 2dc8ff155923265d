// Splitting and decoding compact JWS: three canonical base64url parts, JSON objects without
// duplicate member names, a size limit.
#include "jose/token.h"

#include <gtest/gtest.h>

#include "jose/base64url.h"
#include "jose/strict_json.h"

namespace portcullis::jose {
namespace {

std::string b(std::string_view s) { return base64url_encode(s); }

TokenError parse(const std::string& text, std::size_t max = 8192) {
  Token t;
  return parse_token(text, max, t);
}

TEST(TokenTest, SplitsIntoExactlyThreeParts) {
  Token t;
  std::string tok = b(R"({"alg":"RS256"})") + "." + b(R"({"sub":"42"})") + "." + b("sig");
  ASSERT_EQ(parse_token(tok, 8192, t), TokenError::None);
  EXPECT_EQ(t.header.at("alg").as_string(), "RS256");
  EXPECT_EQ(t.payload.at("sub").as_string(), "42");
  EXPECT_EQ(t.signature, "sig");
  EXPECT_EQ(t.signing_input, tok.substr(0, tok.rfind('.')));

  EXPECT_EQ(parse("abc"), TokenError::NotJwt);
  EXPECT_EQ(parse(b("{}") + "." + b("{}")), TokenError::NotJwt);
  EXPECT_EQ(parse(b("{}") + "." + b("{}") + ".x.y"), TokenError::NotJwt);
  EXPECT_EQ(parse(".." ), TokenError::BadEncoding);
  EXPECT_EQ(parse("." + b("{}") + ".sig"), TokenError::BadEncoding);
  // An empty signature part is well-formed here (and fails verification later).
  EXPECT_EQ(parse(b(R"({"alg":"none"})") + "." + b("{}") + "."), TokenError::None);
  EXPECT_TRUE(looks_like_jws("a.b.c"));
  EXPECT_FALSE(looks_like_jws("opaque-token"));
  EXPECT_FALSE(looks_like_jws("a.b.c.d.e"));
}

TEST(TokenTest, RefusesPaddedOrNonCanonicalParts) {
  std::string h = b(R"({"alg":"RS256"})");  // 20 chars: length % 4 == 0? check both forms
  std::string p = b(R"({"sub":"1"})");
  std::string good = h + "." + p + "." + b("xy");
  ASSERT_EQ(parse(good), TokenError::None);
  EXPECT_EQ(parse(h + "." + p + "." + b("xy") + "="), TokenError::BadEncoding);
  EXPECT_EQ(parse(h + "==." + p + "." + b("xy")), TokenError::BadEncoding);
  EXPECT_EQ(parse(h + "." + p + "." + "eHk="), TokenError::BadEncoding);  // padded "xy"
  EXPECT_EQ(parse(h + "." + p + "." + "eHl"), TokenError::BadEncoding);   // non-canonical "xy"
  std::string std64 = p;
  EXPECT_EQ(parse(h + "." + p + ".a+b/"), TokenError::BadEncoding);
  EXPECT_EQ(parse(h + "." + p + " ." + b("xy")), TokenError::BadEncoding);
}

TEST(TokenTest, HeaderAndPayloadMustBeJsonObjects) {
  EXPECT_EQ(parse(b("[1]") + "." + b("{}") + ".c2ln"), TokenError::BadJson);
  EXPECT_EQ(parse(b("{}") + "." + b("\"x\"") + ".c2ln"), TokenError::BadJson);
  EXPECT_EQ(parse(b("{") + "." + b("{}") + ".c2ln"), TokenError::BadJson);
  EXPECT_EQ(parse(b("{} {}") + "." + b("{}") + ".c2ln"), TokenError::BadJson);
  EXPECT_EQ(parse(b("{}") + "." + b("{\"a\":\"\xff\"}") + ".c2ln"), TokenError::BadJson);
  EXPECT_EQ(parse(b("{}") + "." + b("{/*c*/}") + ".c2ln"), TokenError::BadJson);
}

TEST(TokenTest, RefusesDuplicateMemberNames) {
  auto tok = [](std::string_view h, std::string_view p) { return b(h) + "." + b(p) + ".c2ln"; };
  EXPECT_EQ(parse(tok(R"({"alg":"RS256","alg":"HS256"})", "{}")), TokenError::DuplicateMember);
  EXPECT_EQ(parse(tok("{}", R"({"iss":"a","sub":"1","iss":"b"})")), TokenError::DuplicateMember);
  // Names are compared after unescaping.
  EXPECT_EQ(parse(tok(R"({"alg":"RS256","\u0061lg":"none"})", "{}")),
            TokenError::DuplicateMember);
  EXPECT_EQ(parse(tok("{}", R"({"a":{"x":1,"x":2}})")), TokenError::DuplicateMember);
  EXPECT_EQ(parse(tok("{}", R"({"a":[{"x":1},{"x":2}],"b":{"x":1}})")), TokenError::None);
}

TEST(TokenTest, EnforcesTheSizeLimit) {
  std::string tok = b(R"({"alg":"RS256"})") + "." + b(std::string(R"({"pad":")") +
                                                       std::string(200, 'a') + "\"}") + ".c2ln";
  EXPECT_EQ(parse(tok, tok.size()), TokenError::None);
  EXPECT_EQ(parse(tok, tok.size() - 1), TokenError::TooLarge);
}

// For masking credentials in the access log (issue 10, item 5).
TEST(TokenTest, RecognisesCompactJwsByItsHeader) {
  const std::string header = b(R"({"alg":"RS256","typ":"JWT"})");
  EXPECT_TRUE(is_compact_jws(header + "." + b(R"({"sub":"1"})") + ".c2ln"));
  EXPECT_TRUE(is_compact_jws(header + ".."));       // detached payload, no signature: still one
  EXPECT_FALSE(is_compact_jws("v1.2.3"));           // dots, but no JSON header
  EXPECT_FALSE(is_compact_jws(b("[1]") + ".a.b"));  // a header is an object
  EXPECT_FALSE(is_compact_jws(header + ".a"));      // two parts
  EXPECT_FALSE(is_compact_jws(header + ".a.b.c"));  // four parts
  EXPECT_FALSE(is_compact_jws(header + ".a b.c"));  // not base64url
  EXPECT_FALSE(is_compact_jws(".a.b"));
}

TEST(StrictJsonTest, LimitsDepthAndKeepsValues) {
  boost::json::value v;
  EXPECT_EQ(parse_strict(R"({"a":[1,2.5,true,null,"s",{"b":-3}]})", v), JsonError::None);
  EXPECT_EQ(v.at("a").as_array().size(), 6u);
  EXPECT_EQ(v.at("a").as_array()[5].at("b").as_int64(), -3);
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_EQ(parse_strict(deep, v), JsonError::Syntax);
  boost::json::object o;
  EXPECT_EQ(parse_strict_object("[]", o), JsonError::NotAnObject);
}

}  // namespace
}  // namespace portcullis::jose
