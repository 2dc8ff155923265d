// JWS signature verification (RFC 7515 §5.2, RFC 7518 §3, RFC 8037) with OpenSSL EVP. The
// caller has already chosen the key with key_allows(), so an RSA/EC/OKP key is never used as
// an HMAC secret; verify() checks that again and refuses any mismatch.
#pragma once

#include <string_view>

#include "jose/algorithms.h"
#include "jose/keys.h"

namespace portcullis::jose {

enum class SignatureCheck {
  Valid,
  Invalid,          // does not verify
  BadLength,        // wrong length for the algorithm (ECDSA: exactly 64/96/132 bytes)
  BadEcdsaValue,    // r or s is zero or not below the curve order
  KeyMismatch,      // the key cannot be used with this algorithm
};

// `signing_input` is "BASE64URL(header).BASE64URL(payload)"; `signature` the decoded bytes.
// Thread-safe. HMAC results are compared in constant time. Each thread keeps a few prepared
// OpenSSL contexts per key, so a repeated key costs no provider lookups.
SignatureCheck verify_signature(Alg alg, const Key& key, std::string_view signing_input,
                                std::string_view signature);

// SHA-256 of `data` (32 bytes), through OpenSSL.
void sha256(std::string_view data, unsigned char out[32]);
// Creates a signature (tests and tools only): HS with a secret; others need a private key
// in `key.pkey`. Empty on failure.
std::string sign_for_tests(Alg alg, const Key& key, std::string_view signing_input);

}  // namespace portcullis::jose
