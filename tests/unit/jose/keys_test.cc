// JWK sets and PEM keys: what becomes a key, what is skipped and why.
#include "jose/keys.h"

#include <gtest/gtest.h>

#include "test_keys.h"

namespace portcullis::jose {
namespace {

using namespace testing;
namespace json = boost::json;

std::string set_of(json::array keys) { return json::serialize(json::object{{"keys", keys}}); }

TEST(JwksTest, ParsesRsaEcAndOkpKeys) {
  Key rsa = rsa_key(2048, "r1"), p256 = ec_key("P-256", "e1"), p521 = ec_key("P-521", "e5"),
      ed = ed_key("o1");
  KeySet set;
  std::vector<std::string> skipped;
  std::string error;
  ASSERT_TRUE(parse_jwks(jwks_of({&rsa, &p256, &p521, &ed}), set, skipped, error)) << error;
  EXPECT_TRUE(skipped.empty());
  EXPECT_EQ(set.size(), 4u);
  auto k = set.find(std::string_view("r1"), Alg::RS256);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->type, KeyType::Rsa);
  EXPECT_EQ(k->bits, 2048);
  EXPECT_TRUE(set.find(std::string_view("r1"), Alg::PS512));
  EXPECT_FALSE(set.find(std::string_view("r1"), Alg::ES256));
  EXPECT_FALSE(set.find(std::string_view("r1"), Alg::HS256));
  EXPECT_TRUE(set.find(std::string_view("e1"), Alg::ES256));
  EXPECT_FALSE(set.find(std::string_view("e1"), Alg::ES512));
  EXPECT_TRUE(set.find(std::string_view("e5"), Alg::ES512));
  EXPECT_TRUE(set.find(std::string_view("o1"), Alg::EdDSA));
  EXPECT_FALSE(set.find(std::string_view("nope"), Alg::RS256));

  // A parsed public key verifies what the private key signed.
  std::string input = "a.b";
  std::string sig = sign_for_tests(Alg::ES256, p256, input);
  EXPECT_EQ(verify_signature(Alg::ES256, *set.find(std::string_view("e1"), Alg::ES256), input, sig),
            SignatureCheck::Valid);
}

TEST(JwksTest, SkipsKeysThatMustNotOrCannotBeUsed) {
  Key rsa = rsa_key(2048, "r1"), small = rsa_key(1024, "small"), ec = ec_key("P-256", "e1");
  json::object enc = public_jwk(rsa);
  enc["kid"] = "enc";
  enc["use"] = "enc";
  json::object ops = public_jwk(rsa);
  ops["kid"] = "ops";
  ops["key_ops"] = json::array{"encrypt"};
  json::object oct{{"kty", "oct"}, {"kid", "hmac"}, {"k", "c2VjcmV0"}};
  json::object alg_mismatch = public_jwk(rsa);
  alg_mismatch["kid"] = "mismatch";
  alg_mismatch["alg"] = "ES256";
  json::object alg_unknown = public_jwk(rsa);
  alg_unknown["kid"] = "oaep";
  alg_unknown["alg"] = "RSA-OAEP";
  json::object off_curve = public_jwk(ec);
  off_curve["kid"] = "offcurve";
  std::string y = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";  // 32 zero bytes
  off_curve["y"] = y;
  json::object long_kid = public_jwk(rsa);
  long_kid["kid"] = std::string(300, 'k');
  json::object bad_b64 = public_jwk(rsa);
  bad_b64["kid"] = "padded";
  bad_b64["e"] = "AQAB==";
  json::object unknown_kty{{"kty", "XYZ"}, {"kid", "x"}};

  KeySet set;
  std::vector<std::string> skipped;
  std::string error;
  ASSERT_TRUE(parse_jwks(set_of({public_jwk(rsa), public_jwk(small), enc, ops, oct, alg_mismatch,
                                 alg_unknown, off_curve, long_kid, bad_b64, unknown_kty, 7}),
                         set, skipped, error))
      << error;
  EXPECT_EQ(set.size(), 1u);
  EXPECT_EQ(skipped.size(), 11u);
  std::string all;
  for (const auto& s : skipped) all += s + "\n";
  EXPECT_NE(all.find("symmetric keys are never taken"), std::string::npos) << all;
  EXPECT_NE(all.find("1024 bits"), std::string::npos) << all;
  EXPECT_NE(all.find("not 'sig'"), std::string::npos) << all;
  EXPECT_FALSE(set.has_kid("hmac"));
}

TEST(JwksTest, RefusesDocumentsThatAreNotKeySets) {
  KeySet set;
  std::vector<std::string> skipped;
  std::string error;
  EXPECT_FALSE(parse_jwks("not json", set, skipped, error));
  EXPECT_FALSE(parse_jwks("{\"keys\":{}}", set, skipped, error));
  EXPECT_FALSE(parse_jwks("[]", set, skipped, error));
  EXPECT_FALSE(parse_jwks(R"({"keys":[],"keys":[]})", set, skipped, error));
  EXPECT_NE(error.find("duplicate"), std::string::npos);
}

TEST(KeySetTest, TokensWithoutKidNeedASingleCandidate) {
  Key a = rsa_key(2048, "a"), b = rsa_key(2048, "b"), e = ec_key("P-256", "e");
  KeySet set;
  std::vector<std::string> skipped;
  std::string error;
  ASSERT_TRUE(parse_jwks(jwks_of({&a, &e}), set, skipped, error));
  EXPECT_TRUE(set.find(std::nullopt, Alg::RS256));
  EXPECT_TRUE(set.find(std::nullopt, Alg::ES256));
  KeySet two;
  ASSERT_TRUE(parse_jwks(jwks_of({&a, &b}), two, skipped, error));
  EXPECT_FALSE(two.find(std::nullopt, Alg::RS256));
}

TEST(KeySetTest, SameKidForTwoKeyTypesPicksByAlgorithm) {
  Key r = rsa_key(2048, "k"), e = ec_key("P-256", "k");
  KeySet set;
  std::vector<std::string> skipped;
  std::string error;
  ASSERT_TRUE(parse_jwks(jwks_of({&r, &e}), set, skipped, error));
  EXPECT_EQ(set.find(std::string_view("k"), Alg::RS256)->type, KeyType::Rsa);
  EXPECT_EQ(set.find(std::string_view("k"), Alg::ES256)->type, KeyType::Ec);
}

TEST(PemTest, ReadsPublicKeysOfEveryType) {
  for (const Key& k : {rsa_key(), ec_key("P-384"), ed_key()}) {
    Key out;
    std::string error;
    ASSERT_TRUE(parse_pem_public_key(public_pem(k), out, error)) << error;
    EXPECT_EQ(out.type, k.type);
    EXPECT_EQ(out.crv, k.crv);
  }
  Key out;
  std::string error;
  EXPECT_FALSE(parse_pem_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
                                    out, error));
  EXPECT_FALSE(parse_pem_public_key(public_pem(rsa_key(1024)), out, error));
  EXPECT_NE(error.find("1024"), std::string::npos);
}

}  // namespace
}  // namespace portcullis::jose
