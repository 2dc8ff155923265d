// Signing keys for the JWS the gateway issues itself (the signed identity context): a PEM
// private key read through OpenSSL, its public JWK (RFC 7517/7518, RFC 8037), and JWS
// signatures with EVP_DigestSign (Ed25519 with no digest; ES256 with SHA-256, the DER
// ECDSA signature turned into the raw r||s JWS form with OpenSSL's ECDSA_SIG functions).
#pragma once

#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "jose/algorithms.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace portcullis::jose {

class SigningKey {
 public:
  // EdDSA needs an Ed25519 key, ES256 a P-256 one; no other algorithm signs here. An
  // encrypted PEM is refused (nobody is there to type its passphrase). The error never quotes
  // the key. Null on failure.
  static std::shared_ptr<const SigningKey> from_pem(std::string_view pem, Alg alg, std::string kid,
                                                    std::string& error);

  Alg alg() const { return alg_; }
  const std::string& kid() const { return kid_; }
  // The JWS signature of `signing_input` (64 bytes for both algorithms); empty on failure.
  // Thread-safe.
  std::string sign(std::string_view signing_input) const;
  // The public half as a JWK with kid, alg and "use": "sig".
  boost::json::object public_jwk() const;

 private:
  SigningKey() = default;
  Alg alg_ = Alg::EdDSA;
  std::string kid_;
  std::shared_ptr<EVP_PKEY> pkey_;
};

}  // namespace portcullis::jose
