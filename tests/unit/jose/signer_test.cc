// Tests for jose::SigningKey: PEM private keys in, JWS signatures out, checked by OpenSSL
// (EVP_DigestVerify on the original key, the DER form rebuilt for ECDSA) and by the gateway's
// own verifier through the published JWK.
#include "jose/signer.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>

#include <boost/json/serialize.hpp>

#include "jose/keys.h"
#include "jose/verifier.h"
#include "test_keys.h"

namespace portcullis::jose {
namespace {

using testing::own;

std::string private_pem(EVP_PKEY* key, const EVP_CIPHER* cipher = nullptr) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  static char pass[] = "passphrase";
  PEM_write_bio_PrivateKey(bio.get(), key, cipher, reinterpret_cast<unsigned char*>(pass),
                           cipher ? 10 : 0, nullptr, nullptr);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

// OpenSSL verifies on its own: Ed25519 directly, ES256 after rebuilding the DER signature.
bool openssl_verifies(EVP_PKEY* key, Alg alg, std::string_view input, std::string_view sig) {
  std::string der;
  if (alg == Alg::ES256) {
    if (sig.size() != 64) return false;
    ECDSA_SIG* es = ECDSA_SIG_new();
    const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
    ECDSA_SIG_set0(es, BN_bin2bn(p, 32, nullptr), BN_bin2bn(p + 32, 32, nullptr));
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(es, &out);
    der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    ECDSA_SIG_free(es);
    sig = der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      EVP_DigestVerifyInit_ex(ctx, nullptr, alg == Alg::EdDSA ? nullptr : "SHA256", nullptr,
                              nullptr, key, nullptr) == 1 &&
      EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

void round_trip(EVP_PKEY* pkey, Alg alg) {
  std::string error;
  auto key = SigningKey::from_pem(private_pem(pkey), alg, "k1", error);
  ASSERT_NE(key, nullptr) << error;
  const std::string input = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0";
  const std::string sig = key->sign(input);
  ASSERT_EQ(sig.size(), 64u);
  EXPECT_TRUE(openssl_verifies(pkey, alg, input, sig));
  EXPECT_FALSE(openssl_verifies(pkey, alg, input + "x", sig));

  // The published JWK verifies it through the gateway's verifier too.
  boost::json::object set;
  set["keys"] = boost::json::array{key->public_jwk()};
  KeySet keys;
  std::vector<std::string> skipped;
  ASSERT_TRUE(parse_jwks(boost::json::serialize(set), keys, skipped, error)) << error;
  auto found = keys.find(std::string_view("k1"), alg);
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(verify_signature(alg, *found, input, sig), SignatureCheck::Valid);
  EXPECT_EQ(key->public_jwk().at("use").as_string(), "sig");
  EXPECT_EQ(key->public_jwk().at("alg").as_string(), alg_name(alg));
  EXPECT_FALSE(key->public_jwk().contains("d"));
}

TEST(SigningKeyTest, Ed25519SignsAndVerifies) {
  auto pkey = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  round_trip(pkey.get(), Alg::EdDSA);
}

TEST(SigningKeyTest, Es256SignsRawRAndSAndVerifies) {
  auto pkey = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  round_trip(pkey.get(), Alg::ES256);
}

TEST(SigningKeyTest, KeyMustSuitTheAlgorithm) {
  std::string error;
  auto ed = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  auto p384 = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"));
  auto p256 = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  EXPECT_EQ(SigningKey::from_pem(private_pem(ed.get()), Alg::ES256, "k", error), nullptr);
  EXPECT_NE(error.find("ES256 needs an EC P-256 key"), std::string::npos) << error;
  EXPECT_EQ(SigningKey::from_pem(private_pem(p384.get()), Alg::ES256, "k", error), nullptr);
  EXPECT_NE(error.find("secp384r1"), std::string::npos) << error;
  EXPECT_EQ(SigningKey::from_pem(private_pem(p256.get()), Alg::EdDSA, "k", error), nullptr);
  EXPECT_NE(error.find("EdDSA needs an Ed25519 key"), std::string::npos) << error;
  EXPECT_EQ(SigningKey::from_pem(private_pem(p256.get()), Alg::RS256, "k", error), nullptr);
}

TEST(SigningKeyTest, EncryptedOrBrokenPemIsRefusedWithoutQuotingIt) {
  std::string error;
  auto ed = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  const std::string encrypted = private_pem(ed.get(), EVP_aes_256_cbc());
  EXPECT_EQ(SigningKey::from_pem(encrypted, Alg::EdDSA, "k", error), nullptr);
  EXPECT_NE(error.find("encrypted"), std::string::npos);
  const std::string pem = private_pem(ed.get());
  EXPECT_EQ(SigningKey::from_pem(pem.substr(0, pem.size() / 2), Alg::EdDSA, "k", error), nullptr);
  EXPECT_EQ(error.find("PRIVATE KEY-----"), std::string::npos);
  EXPECT_EQ(SigningKey::from_pem("", Alg::EdDSA, "k", error), nullptr);
}

}  // namespace
}  // namespace portcullis::jose
