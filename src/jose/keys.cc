#include "jose/keys.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <boost/json/value.hpp>

#include "jose/base64url.h"
#include "jose/strict_json.h"

namespace portcullis::jose {
namespace {

namespace json = boost::json;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
std::shared_ptr<EVP_PKEY> own(EVP_PKEY* p) { return std::shared_ptr<EVP_PKEY>(p, PkeyFree{}); }

// A base64url member of a JWK, decoded; false when missing or not canonical base64url.
bool b64_member(const json::object& jwk, std::string_view name, std::string& out) {
  auto it = jwk.find(name);
  if (it == jwk.end() || !it->value().is_string()) return false;
  const auto& s = it->value().get_string();
  return base64url_decode(std::string_view(s.data(), s.size()), out) && !out.empty();
}

std::optional<std::string> str_member(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().get_string());
}

// Checks an imported public key the way OpenSSL can (on-curve point, sane RSA modulus).
bool public_check(EVP_PKEY* pkey) {
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr);
  if (ctx == nullptr) return false;
  bool ok = EVP_PKEY_public_check(ctx) == 1;
  EVP_PKEY_CTX_free(ctx);
  return ok;
}

std::shared_ptr<EVP_PKEY> from_params(const char* type, OSSL_PARAM_BLD* bld) {
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  if (params == nullptr) return nullptr;
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  if (ctx != nullptr && EVP_PKEY_fromdata_init(ctx) == 1) {
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) pkey = nullptr;
  }
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  if (pkey != nullptr && !public_check(pkey)) {
    EVP_PKEY_free(pkey);
    pkey = nullptr;
  }
  return pkey ? own(pkey) : nullptr;
}

std::shared_ptr<EVP_PKEY> rsa_from_jwk(const json::object& jwk, int& bits, std::string& why) {
  std::string n, e;
  if (!b64_member(jwk, "n", n) || !b64_member(jwk, "e", e)) {
    why = "RSA key without valid 'n' and 'e'";
    return nullptr;
  }
  if (n.size() > 2048 || e.size() > 8) {  // 16384-bit modulus, 64-bit exponent
    why = "RSA key too large";
    return nullptr;
  }
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::shared_ptr<EVP_PKEY> pkey;
  if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
    pkey = from_params("RSA", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  if (!pkey) {
    why = "invalid RSA key";
    return nullptr;
  }
  bits = EVP_PKEY_get_bits(pkey.get());
  return pkey;
}

struct Curve {
  std::string_view jwk;
  const char* group;
  std::size_t bytes;
};
constexpr Curve kCurves[] = {{"P-256", "prime256v1", 32},
                             {"P-384", "secp384r1", 48},
                             {"P-521", "secp521r1", 66}};

std::shared_ptr<EVP_PKEY> ec_from_jwk(const json::object& jwk, const std::string& crv,
                                      int& bits, std::string& why) {
  const Curve* curve = nullptr;
  for (const auto& c : kCurves) {
    if (c.jwk == crv) curve = &c;
  }
  if (curve == nullptr) {
    why = "unsupported EC curve '" + crv + "'";
    return nullptr;
  }
  std::string x, y;
  if (!b64_member(jwk, "x", x) || !b64_member(jwk, "y", y) || x.size() != curve->bytes ||
      y.size() != curve->bytes) {
    why = "EC key without valid 'x' and 'y' for " + crv;
    return nullptr;
  }
  std::string point = "\x04" + x + y;
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  std::shared_ptr<EVP_PKEY> pkey;
  if (bld &&
      OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve->group, 0) == 1 &&
      OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                       point.size()) == 1) {
    pkey = from_params("EC", bld);
  }
  OSSL_PARAM_BLD_free(bld);
  if (!pkey) {
    why = "invalid EC key (not a point on " + crv + ")";
    return nullptr;
  }
  bits = EVP_PKEY_get_bits(pkey.get());
  return pkey;
}

std::shared_ptr<EVP_PKEY> okp_from_jwk(const json::object& jwk, const std::string& crv,
                                       int& bits, std::string& why) {
  int type = crv == "Ed25519" ? EVP_PKEY_ED25519 : crv == "Ed448" ? EVP_PKEY_ED448 : 0;
  std::size_t len = crv == "Ed25519" ? 32 : 57;
  if (type == 0) {
    why = "unsupported OKP curve '" + crv + "'";
    return nullptr;
  }
  std::string x;
  if (!b64_member(jwk, "x", x) || x.size() != len) {
    why = "OKP key without a valid 'x' for " + crv;
    return nullptr;
  }
  EVP_PKEY* p = EVP_PKEY_new_raw_public_key(
      type, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size());
  if (p == nullptr) {
    why = "invalid " + crv + " key";
    return nullptr;
  }
  bits = EVP_PKEY_get_bits(p);
  return own(p);
}

// Fills type/crv/bits of a key that came as an EVP_PKEY (PEM).
bool describe_pkey(EVP_PKEY* pkey, Key& out, std::string& error) {
  out.bits = EVP_PKEY_get_bits(pkey);
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
      out.type = KeyType::Rsa;
      if (out.bits < kMinRsaBits) {
        error = "RSA key of " + std::to_string(out.bits) + " bits; at least " +
                std::to_string(kMinRsaBits) + " are required";
        return false;
      }
      return true;
    case EVP_PKEY_EC: {
      char group[64] = {0};
      std::size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                         &len) != 1) {
        error = "EC key without a named curve";
        return false;
      }
      out.type = KeyType::Ec;
      for (const auto& c : kCurves) {
        if (std::string_view(group) == c.group) out.crv = std::string(c.jwk);
      }
      if (out.crv.empty()) {
        error = std::string("unsupported EC curve ") + group;
        return false;
      }
      return true;
    }
    case EVP_PKEY_ED25519:
      out.type = KeyType::Okp;
      out.crv = "Ed25519";
      return true;
    case EVP_PKEY_ED448:
      out.type = KeyType::Okp;
      out.crv = "Ed448";
      return true;
    default:
      error = "unsupported key type (expected RSA, EC or Ed25519/Ed448)";
      return false;
  }
}

}  // namespace

bool key_allows(const Key& key, Alg alg) {
  if (key.alg && *key.alg != alg) return false;
  switch (alg_family(alg)) {
    case AlgFamily::Hmac:
      return key.type == KeyType::Secret && !key.secret.empty();
    case AlgFamily::RsaPkcs1:
    case AlgFamily::RsaPss:
      return key.type == KeyType::Rsa && key.pkey != nullptr;
    case AlgFamily::Ecdsa:
      return key.type == KeyType::Ec && key.pkey != nullptr && key.crv == ecdsa_curve(alg);
    case AlgFamily::EdDsa:
      return key.type == KeyType::Okp && key.pkey != nullptr;
  }
  return false;
}

void KeySet::add(std::shared_ptr<const Key> key) {
  by_kid_[key->kid].push_back(key);
  all_.push_back(std::move(key));
}

std::shared_ptr<const Key> KeySet::find(std::optional<std::string_view> kid, Alg alg) const {
  if (kid) {
    auto it = by_kid_.find(std::string(*kid));
    if (it == by_kid_.end()) return nullptr;
    for (const auto& k : it->second) {
      if (key_allows(*k, alg)) return k;
    }
    return nullptr;
  }
  std::shared_ptr<const Key> found;
  for (const auto& k : all_) {
    if (!key_allows(*k, alg)) continue;
    if (found) return nullptr;  // ambiguous: a token without kid needs a single candidate
    found = k;
  }
  return found;
}

bool KeySet::has_kid(std::string_view kid) const { return by_kid_.count(std::string(kid)) > 0; }

bool parse_jwks(std::string_view text, KeySet& out, std::vector<std::string>& skipped,
                std::string& error) {
  json::object doc;
  switch (parse_strict_object(text, doc)) {
    case JsonError::None:
      break;
    case JsonError::DuplicateMember:
      error = "the JWK set has an object with a duplicate member name";
      return false;
    case JsonError::TooManyMembers:
      error = "the JWK set has more than " + std::to_string(kMaxObjectMembers) +
              " members in one object or " + std::to_string(kMaxTotalMembers) + " in all";
      return false;
    default:
      error = "the JWK set is not a JSON object";
      return false;
  }
  auto it = doc.find("keys");
  if (it == doc.end() || !it->value().is_array()) {
    error = "the JWK set has no 'keys' array";
    return false;
  }
  const auto& keys = it->value().get_array();
  if (keys.size() > 1000) {
    error = "the JWK set has more than 1000 keys";
    return false;
  }
  std::size_t index = 0;
  for (const auto& item : keys) {
    std::string label = "key " + std::to_string(index++);
    if (!item.is_object()) {
      skipped.push_back(label + ": not an object");
      continue;
    }
    const auto& jwk = item.get_object();
    auto kid = str_member(jwk, "kid");
    if (kid) {
      if (kid->size() > kMaxKidBytes) {
        skipped.push_back(label + ": kid longer than " + std::to_string(kMaxKidBytes) + " bytes");
        continue;
      }
      label = "kid '" + *kid + "'";
    }
    auto kty = str_member(jwk, "kty");
    if (!kty) {
      skipped.push_back(label + ": no kty");
      continue;
    }
    if (auto use = str_member(jwk, "use"); use && *use != "sig") {
      skipped.push_back(label + ": use is '" + *use + "', not 'sig'");
      continue;
    }
    if (auto ops = jwk.find("key_ops"); ops != jwk.end()) {
      bool verify = false;
      if (ops->value().is_array()) {
        for (const auto& op : ops->value().get_array()) verify |= op.is_string() && op.get_string() == "verify";
      }
      if (!verify) {
        skipped.push_back(label + ": key_ops does not include 'verify'");
        continue;
      }
    }
    auto key = std::make_shared<Key>();
    key->kid = kid.value_or("");
    if (auto alg = jwk.find("alg"); alg != jwk.end()) {
      std::optional<Alg> a;
      if (alg->value().is_string()) a = parse_alg(std::string_view(alg->value().get_string()));
      if (!a) {
        skipped.push_back(label + ": unsupported alg");
        continue;
      }
      key->alg = a;
    }
    std::string why;
    if (*kty == "RSA") {
      key->type = KeyType::Rsa;
      key->pkey = rsa_from_jwk(jwk, key->bits, why);
      if (key->pkey && key->bits < kMinRsaBits) {
        why = "RSA key of " + std::to_string(key->bits) + " bits (at least " +
              std::to_string(kMinRsaBits) + " required)";
        key->pkey = nullptr;
      }
    } else if (*kty == "EC") {
      key->type = KeyType::Ec;
      key->crv = str_member(jwk, "crv").value_or("");
      key->pkey = ec_from_jwk(jwk, key->crv, key->bits, why);
    } else if (*kty == "OKP") {
      key->type = KeyType::Okp;
      key->crv = str_member(jwk, "crv").value_or("");
      key->pkey = okp_from_jwk(jwk, key->crv, key->bits, why);
    } else if (*kty == "oct") {
      why = "symmetric keys are never taken from a JWK set";
    } else {
      why = "unsupported kty '" + *kty + "'";
    }
    if (!key->pkey) {
      skipped.push_back(label + ": " + why);
      continue;
    }
    if (key->alg) {
      // A JWK whose own alg does not fit its type (alg HS256 on an RSA key) is unusable.
      if (!key_allows(*key, *key->alg)) {
        skipped.push_back(label + ": alg " + std::string(alg_name(*key->alg)) +
                          " does not fit a " + describe_key(*key) + " key");
        continue;
      }
    }
    out.add(std::move(key));
  }
  return true;
}

bool parse_pem_public_key(std::string_view pem, Key& out, std::string& error) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) {
    error = "out of memory";
    return false;
  }
  EVP_PKEY* pkey = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  if (pkey == nullptr) {
    // A certificate holding the key is accepted too.
    BIO_free(bio);
    bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* cert = bio ? PEM_read_bio_X509(bio, nullptr, nullptr, nullptr) : nullptr;
    if (cert != nullptr) {
      pkey = X509_get_pubkey(cert);
      X509_free(cert);
    }
  }
  BIO_free(bio);
  if (pkey == nullptr) {
    error = "not a PEM public key (-----BEGIN PUBLIC KEY-----) or certificate";
    return false;
  }
  out.pkey = own(pkey);
  return describe_pkey(pkey, out, error);
}

Key secret_key(std::string_view bytes) {
  Key k;
  k.type = KeyType::Secret;
  k.secret = std::string(bytes);
  k.bits = static_cast<int>(bytes.size() * 8);
  return k;
}

std::string describe_key(const Key& key) {
  switch (key.type) {
    case KeyType::Rsa: return "RSA " + std::to_string(key.bits);
    case KeyType::Ec: return "EC " + key.crv;
    case KeyType::Okp: return "OKP " + key.crv;
    case KeyType::Secret: return "secret";
  }
  return "unknown";
}

}  // namespace portcullis::jose
