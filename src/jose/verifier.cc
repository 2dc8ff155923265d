#include "jose/verifier.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include <memory>
#include <string>
#include <vector>

namespace portcullis::jose {
namespace {

// Digests fetched once: implicit fetches (EVP_sha256()) cost a provider lookup per call.
const EVP_MD* md_for(unsigned bytes) {
  static const EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  static const EVP_MD* sha384 = EVP_MD_fetch(nullptr, "SHA384", nullptr);
  static const EVP_MD* sha512 = EVP_MD_fetch(nullptr, "SHA512", nullptr);
  switch (bytes) {
    case 32: return sha256;
    case 48: return sha384;
    case 64: return sha512;
    default: return nullptr;
  }
}

// Curve orders, for the 0 < r, s < n check.
const BIGNUM* curve_order(Alg alg) {
  struct Groups {
    EC_GROUP* p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    EC_GROUP* p384 = EC_GROUP_new_by_curve_name(NID_secp384r1);
    EC_GROUP* p521 = EC_GROUP_new_by_curve_name(NID_secp521r1);
  };
  static const Groups groups;
  const EC_GROUP* g = alg == Alg::ES256   ? groups.p256
                      : alg == Alg::ES384 ? groups.p384
                      : alg == Alg::ES512 ? groups.p521
                                          : nullptr;
  return g ? EC_GROUP_get0_order(g) : nullptr;
}

struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

// A verify context prepared for one (key, algorithm); reusable for any number of
// EVP_PKEY_verify calls on this thread.
struct Prepared {
  std::shared_ptr<EVP_PKEY> key;  // keeps the key (and so the pointer) alive
  Alg alg;
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx;
};

class ContextCache {
 public:
  EVP_PKEY_CTX* get(const Key& key, Alg alg) {
    for (auto& p : entries_) {
      if (p.key.get() == key.pkey.get() && p.alg == alg) return p.ctx.get();
    }
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(
        EVP_PKEY_CTX_new_from_pkey(nullptr, key.pkey.get(), nullptr));
    if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1) return nullptr;
    const EVP_MD* md = md_for(alg_hash_bytes(alg));
    switch (alg_family(alg)) {
      case AlgFamily::RsaPkcs1:
        if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1) return nullptr;
        break;
      case AlgFamily::RsaPss:
        // RFC 7518 §3.5: MGF1 with the same hash, salt as long as the hash.
        if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) != 1) {
          return nullptr;
        }
        break;
      case AlgFamily::Ecdsa:
        break;
      default:
        return nullptr;
    }
    if (EVP_PKEY_CTX_set_signature_md(ctx.get(), md) != 1) return nullptr;
    if (entries_.size() >= kMax) entries_.erase(entries_.begin());
    entries_.push_back({key.pkey, alg, std::move(ctx)});
    return entries_.back().ctx.get();
  }

 private:
  static constexpr std::size_t kMax = 32;
  std::vector<Prepared> entries_;
};

thread_local ContextCache t_contexts;

// One digest context per thread, reused: EVP_Digest() allocates and frees one per call.
struct MdCtx {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~MdCtx() { EVP_MD_CTX_free(ctx); }
};
thread_local MdCtx t_md;

bool digest_with(const EVP_MD* md, std::string_view data, unsigned char* out, unsigned& len) {
  return md && t_md.ctx && EVP_DigestInit_ex2(t_md.ctx, md, nullptr) == 1 &&
         EVP_DigestUpdate(t_md.ctx, data.data(), data.size()) == 1 &&
         EVP_DigestFinal_ex(t_md.ctx, out, &len) == 1;
}

bool digest(Alg alg, std::string_view data, unsigned char* out, unsigned& len) {
  return digest_with(md_for(alg_hash_bytes(alg)), data, out, len);
}

SignatureCheck verify_hmac(Alg alg, const Key& key, std::string_view input,
                           std::string_view sig) {
  if (sig.size() != alg_hash_bytes(alg)) return SignatureCheck::BadLength;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (HMAC(md_for(alg_hash_bytes(alg)), key.secret.data(), static_cast<int>(key.secret.size()),
           reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac,
           &len) == nullptr ||
      len != sig.size()) {
    return SignatureCheck::Invalid;
  }
  return CRYPTO_memcmp(mac, sig.data(), len) == 0 ? SignatureCheck::Valid
                                                   : SignatureCheck::Invalid;
}

SignatureCheck verify_prepared(Alg alg, const Key& key, std::string_view input,
                               const unsigned char* sig, std::size_t sig_len) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned md_len = 0;
  if (!digest(alg, input, md, md_len)) return SignatureCheck::Invalid;
  EVP_PKEY_CTX* ctx = t_contexts.get(key, alg);
  if (ctx == nullptr) return SignatureCheck::Invalid;
  return EVP_PKEY_verify(ctx, sig, sig_len, md, md_len) == 1 ? SignatureCheck::Valid
                                                             : SignatureCheck::Invalid;
}

SignatureCheck verify_ecdsa(Alg alg, const Key& key, std::string_view input,
                            std::string_view sig) {
  const std::size_t n = ecdsa_signature_bytes(alg);
  if (sig.size() != n) return SignatureCheck::BadLength;  // JWS R||S, never DER
  const auto* raw = reinterpret_cast<const unsigned char*>(sig.data());
  BIGNUM* r = BN_bin2bn(raw, static_cast<int>(n / 2), nullptr);
  BIGNUM* s = BN_bin2bn(raw + n / 2, static_cast<int>(n / 2), nullptr);
  const BIGNUM* order = curve_order(alg);
  if (!r || !s || !order || BN_is_zero(r) || BN_is_zero(s) || BN_cmp(r, order) >= 0 ||
      BN_cmp(s, order) >= 0) {
    BN_free(r);
    BN_free(s);
    return SignatureCheck::BadEcdsaValue;
  }
  ECDSA_SIG* es = ECDSA_SIG_new();
  if (es == nullptr || ECDSA_SIG_set0(es, r, s) != 1) {
    ECDSA_SIG_free(es);
    BN_free(r);
    BN_free(s);
    return SignatureCheck::Invalid;
  }
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(es, &der);
  ECDSA_SIG_free(es);  // frees r and s
  if (der_len <= 0) return SignatureCheck::Invalid;
  SignatureCheck result = verify_prepared(alg, key, input, der, static_cast<std::size_t>(der_len));
  OPENSSL_free(der);
  return result;
}

SignatureCheck verify_eddsa(const Key& key, std::string_view input, std::string_view sig) {
  const std::size_t want = key.crv == "Ed25519" ? 64 : 114;
  if (sig.size() != want) return SignatureCheck::BadLength;
  EVP_MD_CTX* mctx = EVP_MD_CTX_new();
  bool ok = mctx && EVP_DigestVerifyInit_ex(mctx, nullptr, nullptr, nullptr, nullptr,
                                            key.pkey.get(), nullptr) == 1 &&
            EVP_DigestVerify(mctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                             reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()) == 1;
  EVP_MD_CTX_free(mctx);
  return ok ? SignatureCheck::Valid : SignatureCheck::Invalid;
}

}  // namespace

SignatureCheck verify_signature(Alg alg, const Key& key, std::string_view signing_input,
                                std::string_view signature) {
  if (!key_allows(key, alg)) return SignatureCheck::KeyMismatch;
  switch (alg_family(alg)) {
    case AlgFamily::Hmac:
      return verify_hmac(alg, key, signing_input, signature);
    case AlgFamily::RsaPkcs1:
    case AlgFamily::RsaPss:
      if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(key.pkey.get()))) {
        return SignatureCheck::BadLength;
      }
      return verify_prepared(alg, key, signing_input,
                             reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size());
    case AlgFamily::Ecdsa:
      return verify_ecdsa(alg, key, signing_input, signature);
    case AlgFamily::EdDsa:
      return verify_eddsa(key, signing_input, signature);
  }
  return SignatureCheck::Invalid;
}

void sha256(std::string_view data, unsigned char out[32]) {
  unsigned len = 0;
  digest_with(md_for(32), data, out, len);
}

std::string sign_for_tests(Alg alg, const Key& key, std::string_view input) {
  if (alg_family(alg) == AlgFamily::Hmac) {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(md_for(alg_hash_bytes(alg)), key.secret.data(), static_cast<int>(key.secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    return std::string(reinterpret_cast<char*>(mac), len);
  }
  if (!key.pkey) return {};
  EVP_MD_CTX* mctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  const char* mdname = alg == Alg::EdDSA ? nullptr
                       : alg_hash_bytes(alg) == 32 ? "SHA256"
                       : alg_hash_bytes(alg) == 48 ? "SHA384"
                                                   : "SHA512";
  std::string out;
  if (mctx && EVP_DigestSignInit_ex(mctx, &pctx, mdname, nullptr, nullptr, key.pkey.get(),
                                    nullptr) == 1) {
    if (alg_family(alg) == AlgFamily::RsaPss) {
      EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
      EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
    }
    std::size_t len = 0;
    const auto* in = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSign(mctx, nullptr, &len, in, input.size()) == 1) {
      out.resize(len);
      if (EVP_DigestSign(mctx, reinterpret_cast<unsigned char*>(out.data()), &len, in,
                         input.size()) == 1) {
        out.resize(len);
      } else {
        out.clear();
      }
    }
  }
  EVP_MD_CTX_free(mctx);
  if (alg_family(alg) == AlgFamily::Ecdsa && !out.empty()) {
    // DER -> JWS R||S.
    const auto* p = reinterpret_cast<const unsigned char*>(out.data());
    ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(out.size()));
    if (es == nullptr) return {};
    const int half = static_cast<int>(ecdsa_signature_bytes(alg) / 2);
    std::string rs(static_cast<std::size_t>(half) * 2, '\0');
    BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(rs.data()), half);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(rs.data()) + half, half);
    ECDSA_SIG_free(es);
    return rs;
  }
  return out;
}

}  // namespace portcullis::jose
