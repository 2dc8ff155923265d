// Strict JSON at the sizes an attacker controls: a JWK set may be 1 MiB, and its member
// names must be checked for duplicates without a quadratic scan (issue 10, item 11).
#include "jose/strict_json.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jose/keys.h"

namespace portcullis::jose {
namespace {

// {"keys":[{"kty":"RSA","m0":0,"m1":0,...}]}: one JWK with `members` members, padded to
// about 1 MiB when there are ~90,000 of them.
std::string one_wide_jwk(std::size_t members) {
  std::string s = R"({"keys":[{"kty":"RSA")";
  for (std::size_t i = 0; i < members; ++i) s += ",\"m" + std::to_string(i) + "\":0";
  s += "}]}";
  return s;
}

// {"keys":[{...}, {...}, ...]}: `objects` JWKs of `members` members each.
std::string many_jwks(std::size_t objects, std::size_t members) {
  std::string s = R"({"keys":[)";
  for (std::size_t o = 0; o < objects; ++o) {
    if (o) s += ',';
    s += R"({"kty":"oct")";
    for (std::size_t i = 1; i < members; ++i) s += ",\"m" + std::to_string(i) + "\":1";
    s += '}';
  }
  s += "]}";
  return s;
}

TEST(StrictJsonTest, OneObjectOfNinetyThousandMembersIsRefusedByTheCap) {
  const std::string doc = one_wide_jwk(90000);
  ASSERT_LT(doc.size(), std::size_t{1} << 20);  // within the JWKS size cap
  boost::json::object o;
  EXPECT_EQ(parse_strict_object(doc, o), JsonError::TooManyMembers);

  KeySet set;
  std::vector<std::string> skipped;
  std::string error;
  EXPECT_FALSE(parse_jwks(doc, set, skipped, error));
  EXPECT_NE(error.find("more than 1024 members in one object"), std::string::npos) << error;
}

TEST(StrictJsonTest, ObjectsUpToTheCapAreAccepted) {
  boost::json::object o;
  EXPECT_EQ(parse_strict_object(one_wide_jwk(kMaxObjectMembers - 1), o), JsonError::None);
  EXPECT_EQ(o.at("keys").as_array()[0].as_object().size(), kMaxObjectMembers);
  EXPECT_EQ(parse_strict_object(one_wide_jwk(kMaxObjectMembers), o), JsonError::TooManyMembers);
}

TEST(StrictJsonTest, TotalMembersAreCappedAcrossObjects) {
  boost::json::object o;
  // 1000 keys of 30 members: the largest JWK set parse_jwks takes, accepted.
  EXPECT_EQ(parse_strict_object(many_jwks(1000, 30), o), JsonError::None);
  EXPECT_EQ(o.at("keys").as_array().size(), 1000u);
  // 3000 small objects: each is fine, together they pass kMaxTotalMembers.
  EXPECT_EQ(parse_strict_object(many_jwks(3000, 12), o), JsonError::TooManyMembers);
}

TEST(StrictJsonTest, DuplicatesAreFoundInLargeObjectsToo) {
  // Past the short scan the names live in a hash set; a repeat is still a repeat, wherever
  // it is and whether or not its name arrived in pieces.
  std::string doc = R"({"first":1)";
  for (int i = 0; i < 500; ++i) doc += ",\"m" + std::to_string(i) + "\":0";
  boost::json::object o;
  EXPECT_EQ(parse_strict_object(doc + "}", o), JsonError::None);
  EXPECT_EQ(parse_strict_object(doc + R"(,"first":2})", o), JsonError::DuplicateMember);
  EXPECT_EQ(parse_strict_object(doc + R"(,"m17":2})", o), JsonError::DuplicateMember);
  EXPECT_EQ(parse_strict_object(doc + R"(,"\u0066irst":2})", o), JsonError::DuplicateMember);
  // The same name in two different objects is not a duplicate.
  EXPECT_EQ(parse_strict_object(R"({"a":{"x":1},"b":{"x":1},"x":1})", o), JsonError::None);
}

}  // namespace
}  // namespace portcullis::jose
