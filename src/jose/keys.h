// Verification keys: from a JWK set (RFC 7517/7518/8037), a PEM public key or certificate,
// or a static HMAC secret. Public keys become OpenSSL EVP_PKEYs once, when the set is loaded;
// nothing here ever fetches anything.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "jose/algorithms.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace portcullis::jose {

enum class KeyType : std::uint8_t { Rsa, Ec, Okp, Secret };

struct Key {
  KeyType type = KeyType::Rsa;
  std::string crv;           // "P-256", "P-384", "P-521", "Ed25519", "Ed448"; empty for RSA
  std::optional<Alg> alg;    // the JWK's own "alg", when it has one
  std::string kid;           // empty when the key has none
  std::shared_ptr<EVP_PKEY> pkey;  // public key (RSA, EC, OKP)
  std::string secret;        // HMAC key bytes (Secret only; never from a JWKS)
  int bits = 0;              // RSA modulus / EC field size
};

// Whether `alg` may be used with `key`: the family matches the key type (an RSA, EC or OKP key
// is never an HMAC secret, and a secret never verifies RS/PS/ES/EdDSA), the curve matches the
// ECDSA algorithm, and the JWK's own alg, if any, is the same.
bool key_allows(const Key& key, Alg alg);

// Keys by kid. Several keys may share a kid (e.g. one RSA and one EC key); the algorithm picks.
class KeySet {
 public:
  void add(std::shared_ptr<const Key> key);
  std::size_t size() const { return all_.size(); }
  bool empty() const { return all_.empty(); }
  const std::vector<std::shared_ptr<const Key>>& all() const { return all_; }
  // The key for a token: with a kid, the key with that kid that allows `alg`; without one,
  // the only key that allows `alg` (null when there are none or several).
  std::shared_ptr<const Key> find(std::optional<std::string_view> kid, Alg alg) const;
  bool has_kid(std::string_view kid) const;

 private:
  std::vector<std::shared_ptr<const Key>> all_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<const Key>>> by_kid_;
};

inline constexpr std::size_t kMaxKidBytes = 256;
inline constexpr int kMinRsaBits = 2048;

// Parses a JWK set ({"keys": [...]}). Keys that cannot be used are skipped with a reason in
// `skipped` ("kid 'x': symmetric keys are never taken from a JWKS"); false with `error` set
// when the document itself is not a JWK set.
bool parse_jwks(std::string_view json, KeySet& out, std::vector<std::string>& skipped,
                std::string& error);
// A PEM public key (SubjectPublicKeyInfo) or certificate.
bool parse_pem_public_key(std::string_view pem, Key& out, std::string& error);
// An HMAC secret.
Key secret_key(std::string_view bytes);

// "RSA 2048", "EC P-256", "OKP Ed25519", "secret": for messages.
std::string describe_key(const Key& key);

}  // namespace portcullis::jose
