#include "auth/api_key/secret_hash.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>
#include <atomic>
#include <cstdint>

namespace portcullis::auth::api_key {

namespace {
constexpr std::string_view kFingerprintInput = "portcullis api key pepper fingerprint v1";

std::atomic<std::uint64_t> g_next_id{1};

// Per thread, a copy of each recently used keyed context: re-initialised for every hash
// (EVP_MAC_init with a null key keeps the key), which costs less than copying the context
// each time. Ids are never reused, so a slot of a hasher that is gone is only evicted.
class ContextCache {
 public:
  ~ContextCache() {
    for (auto& s : slots_) EVP_MAC_CTX_free(s.ctx);
  }
  EVP_MAC_CTX* get(std::uint64_t owner, const EVP_MAC_CTX* keyed) {
    for (auto& s : slots_) {
      if (s.owner == owner) return s.ctx;
    }
    Slot& s = slots_[next_++ % slots_.size()];
    EVP_MAC_CTX_free(s.ctx);
    s.ctx = EVP_MAC_CTX_dup(keyed);
    s.owner = s.ctx != nullptr ? owner : 0;
    return s.ctx;
  }

 private:
  struct Slot {
    std::uint64_t owner = 0;
    EVP_MAC_CTX* ctx = nullptr;
  };
  std::array<Slot, 4> slots_{};
  unsigned next_ = 0;
};

thread_local ContextCache t_contexts;

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}
}  // namespace

struct SecretHasher::Impl {
  std::uint64_t id = g_next_id.fetch_add(1);
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
  EVP_MAC_CTX* ctx = t_contexts.get(impl_->id, impl_->keyed);
  if (ctx == nullptr) return false;
  std::size_t len = 0;
  return EVP_MAC_init(ctx, nullptr, 0, nullptr) == 1 &&
         EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(secret.data()),
                        secret.size()) == 1 &&
         EVP_MAC_final(ctx, out.data(), &len, out.size()) == 1 && len == out.size();
}

bool SecretHasher::fingerprint(Digest& out) const {
  return hash(kFingerprintInput, out);
}

bool digest_equal(const Digest& a, const Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

bool digest_equal(const Digest& a, std::string_view raw) {
  if (raw.size() != a.size()) return false;
  return CRYPTO_memcmp(a.data(), raw.data(), a.size()) == 0;
}

}  // namespace portcullis::auth::api_key
