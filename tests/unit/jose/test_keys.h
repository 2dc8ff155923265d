// Test helpers for the jwt unit tests: fresh key pairs from OpenSSL, their public JWKs, and
// tokens built from exact header/payload text (so tests can write duplicate members,
// odd types and any alg), signed with OpenSSL.
#pragma once

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <memory>
#include <string>

#include "jose/base64url.h"
#include "jose/keys.h"
#include "jose/verifier.h"

namespace portcullis::jose::testing {

inline std::shared_ptr<EVP_PKEY> own(EVP_PKEY* p) {
  return std::shared_ptr<EVP_PKEY>(p, [](EVP_PKEY* k) { EVP_PKEY_free(k); });
}

// A private key (usable for signing and, OpenSSL being OpenSSL, for verifying).
inline Key rsa_key(int bits = 2048, std::string kid = "rsa-1") {
  Key k;
  k.type = KeyType::Rsa;
  k.kid = std::move(kid);
  k.pkey = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)));
  k.bits = bits;
  return k;
}

inline Key ec_key(const char* crv = "P-256", std::string kid = "ec-1") {
  std::string_view c(crv);
  const char* group = c == "P-256" ? "P-256" : c == "P-384" ? "P-384" : "P-521";
  Key k;
  k.type = KeyType::Ec;
  k.crv = crv;
  k.kid = std::move(kid);
  k.pkey = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group));
  return k;
}

inline Key ed_key(std::string kid = "ed-1") {
  Key k;
  k.type = KeyType::Okp;
  k.crv = "Ed25519";
  k.kid = std::move(kid);
  k.pkey = own(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  return k;
}

inline std::string bn_param(EVP_PKEY* p, const char* name, int pad = 0) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(p, name, &bn);
  std::string out(pad ? static_cast<std::size_t>(pad) : static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
  BN_free(bn);
  return out;
}

// The public JWK of a key, as a JSON object.
inline boost::json::object public_jwk(const Key& k) {
  boost::json::object o;
  if (!k.kid.empty()) o["kid"] = k.kid;
  if (k.type == KeyType::Rsa) {
    o["kty"] = "RSA";
    o["n"] = base64url_encode(bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_N));
    o["e"] = base64url_encode(bn_param(k.pkey.get(), OSSL_PKEY_PARAM_RSA_E));
  } else if (k.type == KeyType::Ec) {
    int size = k.crv == "P-256" ? 32 : k.crv == "P-384" ? 48 : 66;
    o["kty"] = "EC";
    o["crv"] = k.crv;
    o["x"] = base64url_encode(bn_param(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, size));
    o["y"] = base64url_encode(bn_param(k.pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, size));
  } else if (k.type == KeyType::Okp) {
    std::string raw(32, '\0');
    std::size_t len = raw.size();
    EVP_PKEY_get_raw_public_key(k.pkey.get(), reinterpret_cast<unsigned char*>(raw.data()), &len);
    o["kty"] = "OKP";
    o["crv"] = k.crv;
    o["x"] = base64url_encode(raw);
  }
  return o;
}

inline std::string jwks_of(std::initializer_list<const Key*> keys) {
  boost::json::array a;
  for (const Key* k : keys) a.push_back(public_jwk(*k));
  return boost::json::serialize(boost::json::object{{"keys", a}});
}

inline std::string public_pem(const Key& k) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, k.pkey.get());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(bio);
  return out;
}

// A token from exact JSON text; the signature is made with `key` for `alg` (or given raw).
inline std::string make_token(std::string_view header_json, std::string_view payload_json,
                              Alg alg, const Key& key) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(payload_json);
  return input + "." + base64url_encode(sign_for_tests(alg, key, input));
}

inline std::string make_token_raw_sig(std::string_view header_json, std::string_view payload_json,
                                      std::string_view signature) {
  return base64url_encode(header_json) + "." + base64url_encode(payload_json) + "." +
         base64url_encode(signature);
}

}  // namespace portcullis::jose::testing
