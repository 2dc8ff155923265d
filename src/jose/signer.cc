#include "jose/signer.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "jose/base64url.h"

namespace portcullis::jose {
namespace {

// PEM_read_bio_PrivateKey asks for a passphrase through this: none is ever given.
int no_passphrase(char*, int, int, void*) {
  return 0;
}

std::string openssl_reason() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// "EC P-384", "ED25519", "RSA": for messages.
std::string describe(EVP_PKEY* key) {
  const char* type = EVP_PKEY_get0_type_name(key);
  std::string out = type ? type : "unknown";
  char group[64];
  std::size_t len = 0;
  if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1) {
    out += std::string(" ") + group;
  }
  return out;
}

bool suits(EVP_PKEY* key, Alg alg) {
  if (alg == Alg::EdDSA) return EVP_PKEY_is_a(key, "ED25519");
  if (alg != Alg::ES256 || !EVP_PKEY_is_a(key, "EC")) return false;
  char group[64];
  std::size_t len = 0;
  return EVP_PKEY_get_group_name(key, group, sizeof group, &len) == 1 &&
         std::string_view(group, len) == "prime256v1";
}

std::string bn_bytes(const BIGNUM* bn, int width) {
  std::string out(static_cast<std::size_t>(width), '\0');
  if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), width) != width) return {};
  return out;
}

// DER ECDSA-Sig-Value -> the JWS form: r and s, 32 bytes each (RFC 7518 §3.4).
std::string der_to_jws(std::string_view der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ECDSA_SIG* sig = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size()));
  if (sig == nullptr) return {};
  std::string out = bn_bytes(ECDSA_SIG_get0_r(sig), 32);
  const std::string s = bn_bytes(ECDSA_SIG_get0_s(sig), 32);
  ECDSA_SIG_free(sig);
  if (out.empty() || s.empty()) return {};
  return out + s;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::shared_ptr<const SigningKey> SigningKey::from_pem(std::string_view pem, Alg alg,
                                                       std::string kid, std::string& error) {
  if (alg != Alg::EdDSA && alg != Alg::ES256) {
    error = std::string("algorithm ") + std::string(alg_name(alg)) + " cannot sign here";
    return nullptr;
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  EVP_PKEY* raw =
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr;
  if (raw == nullptr) {
    ERR_clear_error();
    error = "not a PEM private key (an encrypted key is refused)";
    return nullptr;
  }
  std::shared_ptr<EVP_PKEY> pkey(raw, EVP_PKEY_free);
  if (!suits(raw, alg)) {
    error = "the key is " + describe(raw) + ", but " + std::string(alg_name(alg)) + " needs " +
            (alg == Alg::EdDSA ? "an Ed25519 key" : "an EC P-256 key");
    return nullptr;
  }
  std::shared_ptr<SigningKey> key(new SigningKey());
  key->alg_ = alg;
  key->kid_ = std::move(kid);
  key->pkey_ = std::move(pkey);
  if (key->sign("probe").empty()) {
    error = "the key cannot sign: " + openssl_reason();
    return nullptr;
  }
  return key;
}

std::string SigningKey::sign(std::string_view signing_input) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  const char* md = alg_ == Alg::EdDSA ? nullptr : "SHA256";  // Ed25519 hashes by itself
  if (!ctx ||
      EVP_DigestSignInit_ex(ctx.get(), nullptr, md, nullptr, nullptr, pkey_.get(), nullptr) != 1) {
    ERR_clear_error();
    return {};
  }
  const auto* in = reinterpret_cast<const unsigned char*>(signing_input.data());
  std::size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, in, signing_input.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  std::string out(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &len, in,
                     signing_input.size()) != 1) {
    ERR_clear_error();
    return {};
  }
  out.resize(len);
  return alg_ == Alg::EdDSA ? out : der_to_jws(out);
}

boost::json::object SigningKey::public_jwk() const {
  boost::json::object jwk;
  if (alg_ == Alg::EdDSA) {
    unsigned char raw[64];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), raw, &len) != 1) return {};
    jwk["kty"] = "OKP";
    jwk["crv"] = "Ed25519";
    jwk["x"] = base64url_encode(std::string_view(reinterpret_cast<const char*>(raw), len));
  } else {
    BIGNUM* x = nullptr;
    BIGNUM* y = nullptr;
    EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    const std::string xs = x ? bn_bytes(x, 32) : std::string();
    const std::string ys = y ? bn_bytes(y, 32) : std::string();
    BN_free(x);
    BN_free(y);
    if (xs.empty() || ys.empty()) return {};
    jwk["kty"] = "EC";
    jwk["crv"] = "P-256";
    jwk["x"] = base64url_encode(xs);
    jwk["y"] = base64url_encode(ys);
  }
  jwk["kid"] = kid_;
  jwk["alg"] = alg_name(alg_);
  jwk["use"] = "sig";
  return jwk;
}

}  // namespace portcullis::jose
