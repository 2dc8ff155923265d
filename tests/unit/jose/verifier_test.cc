// Signature verification for every algorithm, and every way a signature or key is refused.
#include "jose/verifier.h"

#include <gtest/gtest.h>

#include "test_keys.h"

namespace portcullis::jose {
namespace {

using namespace testing;

const std::string kInput = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiI0MiJ9";

struct Keys {
  Key rsa = rsa_key();
  Key p256 = ec_key("P-256");
  Key p384 = ec_key("P-384");
  Key p521 = ec_key("P-521");
  Key ed = ed_key();
  Key secret = secret_key(std::string(64, 'k'));
  const Key& for_alg(Alg a) const {
    switch (alg_family(a)) {
      case AlgFamily::Hmac: return secret;
      case AlgFamily::RsaPkcs1:
      case AlgFamily::RsaPss: return rsa;
      case AlgFamily::EdDsa: return ed;
      case AlgFamily::Ecdsa: return a == Alg::ES256 ? p256 : a == Alg::ES384 ? p384 : p521;
    }
    return secret;
  }
};

const Keys& keys() {
  static Keys k;
  return k;
}

TEST(VerifierTest, EveryAlgorithmVerifiesItsOwnSignature) {
  for (Alg a : kAllAlgs) {
    const Key& k = keys().for_alg(a);
    std::string sig = sign_for_tests(a, k, kInput);
    ASSERT_FALSE(sig.empty()) << alg_name(a);
    EXPECT_EQ(verify_signature(a, k, kInput, sig), SignatureCheck::Valid) << alg_name(a);
    // Any change to the input or the signature breaks it.
    EXPECT_NE(verify_signature(a, k, kInput + "x", sig), SignatureCheck::Valid) << alg_name(a);
    std::string bad = sig;
    bad[bad.size() / 2] ^= 1;
    EXPECT_NE(verify_signature(a, k, kInput, bad), SignatureCheck::Valid) << alg_name(a);
    // Repeated use goes through the cached context and still answers right.
    EXPECT_EQ(verify_signature(a, k, kInput, sig), SignatureCheck::Valid) << alg_name(a);
  }
}

TEST(VerifierTest, KeysOfAnotherTypeAreNeverUsed) {
  // An RSA or EC public key is never an HMAC secret.
  EXPECT_EQ(verify_signature(Alg::HS256, keys().rsa, kInput, std::string(32, 'x')),
            SignatureCheck::KeyMismatch);
  EXPECT_EQ(verify_signature(Alg::HS256, keys().p256, kInput, std::string(32, 'x')),
            SignatureCheck::KeyMismatch);
  EXPECT_EQ(verify_signature(Alg::RS256, keys().secret, kInput, std::string(256, 'x')),
            SignatureCheck::KeyMismatch);
  EXPECT_EQ(verify_signature(Alg::ES256, keys().rsa, kInput, std::string(64, 'x')),
            SignatureCheck::KeyMismatch);
  // The curve must match the algorithm.
  std::string sig = sign_for_tests(Alg::ES256, keys().p256, kInput);
  EXPECT_EQ(verify_signature(Alg::ES384, keys().p256, kInput, sig), SignatureCheck::KeyMismatch);
  EXPECT_EQ(verify_signature(Alg::EdDSA, keys().p256, kInput, sig), SignatureCheck::KeyMismatch);
  // A JWK's own alg binds it.
  Key bound = keys().rsa;
  bound.alg = Alg::PS256;
  EXPECT_EQ(verify_signature(Alg::RS256, bound, kInput, sign_for_tests(Alg::RS256, bound, kInput)),
            SignatureCheck::KeyMismatch);
  EXPECT_EQ(verify_signature(Alg::PS256, bound, kInput, sign_for_tests(Alg::PS256, bound, kInput)),
            SignatureCheck::Valid);
}

TEST(VerifierTest, RsaPkcs1AndPssAreNotInterchangeable) {
  std::string rs = sign_for_tests(Alg::RS256, keys().rsa, kInput);
  std::string ps = sign_for_tests(Alg::PS256, keys().rsa, kInput);
  EXPECT_EQ(verify_signature(Alg::PS256, keys().rsa, kInput, rs), SignatureCheck::Invalid);
  EXPECT_EQ(verify_signature(Alg::RS256, keys().rsa, kInput, ps), SignatureCheck::Invalid);
  EXPECT_EQ(verify_signature(Alg::RS384, keys().rsa, kInput, rs), SignatureCheck::Invalid);
  EXPECT_EQ(verify_signature(Alg::RS256, keys().rsa, kInput, rs.substr(1)),
            SignatureCheck::BadLength);
}

TEST(VerifierTest, EcdsaSignaturesMustHaveTheJwsLengthAndRange) {
  const Key& k = keys().p256;
  std::string sig = sign_for_tests(Alg::ES256, k, kInput);
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_EQ(verify_signature(Alg::ES256, k, kInput, sig.substr(0, 63)), SignatureCheck::BadLength);
  EXPECT_EQ(verify_signature(Alg::ES256, k, kInput, sig + std::string(1, '\0')), SignatureCheck::BadLength);
  // r = s = 0 (the "psychic signature" of CVE-2022-21449) and values >= the order.
  EXPECT_EQ(verify_signature(Alg::ES256, k, kInput, std::string(64, '\0')),
            SignatureCheck::BadEcdsaValue);
  std::string r_zero = std::string(32, '\0') + sig.substr(32);
  EXPECT_EQ(verify_signature(Alg::ES256, k, kInput, r_zero), SignatureCheck::BadEcdsaValue);
  EXPECT_EQ(verify_signature(Alg::ES256, k, kInput, std::string(64, '\xff')),
            SignatureCheck::BadEcdsaValue);
  // A DER-encoded signature (what OpenSSL itself produces) is not a JWS signature.
  EXPECT_EQ(verify_signature(Alg::ES256, k, kInput, std::string(70, '\x30')),
            SignatureCheck::BadLength);
  EXPECT_EQ(sign_for_tests(Alg::ES512, keys().p521, kInput).size(), 132u);
  EXPECT_EQ(sign_for_tests(Alg::ES384, keys().p384, kInput).size(), 96u);
}

TEST(VerifierTest, HmacChecksLengthAndContent) {
  const Key& k = keys().secret;
  std::string sig = sign_for_tests(Alg::HS512, k, kInput);
  EXPECT_EQ(verify_signature(Alg::HS512, k, kInput, sig), SignatureCheck::Valid);
  EXPECT_EQ(verify_signature(Alg::HS512, k, kInput, sig.substr(0, 32)), SignatureCheck::BadLength);
  EXPECT_EQ(verify_signature(Alg::HS256, k, kInput, sig.substr(0, 32)), SignatureCheck::Invalid);
  EXPECT_EQ(verify_signature(Alg::HS256, k, kInput, ""), SignatureCheck::BadLength);
  Key other = secret_key(std::string(64, 'j'));
  EXPECT_EQ(verify_signature(Alg::HS512, other, kInput, sig), SignatureCheck::Invalid);
}

TEST(VerifierTest, EdDsaRefusesWrongLength) {
  std::string sig = sign_for_tests(Alg::EdDSA, keys().ed, kInput);
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_EQ(verify_signature(Alg::EdDSA, keys().ed, kInput, sig.substr(1)), SignatureCheck::BadLength);
}

TEST(AlgorithmsTest, NamesAreExactAndNoneIsNeverAnAlgorithm) {
  for (Alg a : kAllAlgs) EXPECT_EQ(parse_alg(alg_name(a)), a);
  for (const char* n : {"none", "None", "NONE", "nOnE", "rs256", "HS1", "ES256K", "", "EDDSA"}) {
    EXPECT_FALSE(parse_alg(n).has_value()) << n;
  }
  EXPECT_TRUE(is_none_alg("NoNe"));
  EXPECT_FALSE(is_none_alg("nones"));
}

}  // namespace
}  // namespace portcullis::jose
