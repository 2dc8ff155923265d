#include "auth/api_key/secret_hash.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

namespace portcullis::auth::api_key {

namespace {
constexpr std::string_view kFingerprintInput = "portcullis api key pepper fingerprint v1";

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}
}  // namespace

struct SecretHasher::Impl {
  EVP_MAC* mac = nullptr;
  EVP_MAC_CTX* keyed = nullptr;  // initialised with the pepper; copied for every hash
  ~Impl() {
    EVP_MAC_CTX_free(keyed);
    EVP_MAC_free(mac);
  }
};

SecretHasher::SecretHasher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SecretHasher::~SecretHasher() = default;

std::unique_ptr<SecretHasher> SecretHasher::create(std::string_view pepper, std::string& error) {
  auto impl = std::make_unique<Impl>();
  impl->mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (impl->mac == nullptr) {
    error = "HMAC unavailable: " + openssl_error();
    return nullptr;
  }
  impl->keyed = EVP_MAC_CTX_new(impl->mac);
  if (impl->keyed == nullptr) {
    error = "HMAC context: " + openssl_error();
    return nullptr;
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(impl->keyed, reinterpret_cast<const unsigned char*>(pepper.data()),
                   pepper.size(), params) != 1) {
    error = "HMAC-SHA-256 init: " + openssl_error();
    return nullptr;
  }
  return std::unique_ptr<SecretHasher>(new SecretHasher(std::move(impl)));
}

bool SecretHasher::hash(std::string_view secret, Digest& out) const {
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(impl_->keyed);
  if (ctx == nullptr) return false;
  std::size_t len = 0;
  bool ok = EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(secret.data()),
                           secret.size()) == 1 &&
            EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
  EVP_MAC_CTX_free(ctx);
  return ok;
}

bool SecretHasher::fingerprint(Digest& out) const { return hash(kFingerprintInput, out); }

bool digest_equal(const Digest& a, const Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool digest_equal(const Digest& a, std::string_view raw) {
  if (raw.size() != a.size()) return false;
  return CRYPTO_memcmp(a.data(), raw.data(), a.size()) == 0;
}

}  // namespace portcullis::auth::api_key
