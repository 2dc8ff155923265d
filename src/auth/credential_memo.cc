#include "auth/credential_memo.h"

#include <openssl/crypto.h>

#include <atomic>
#include <cstring>
#include <utility>

namespace portcullis::auth {

namespace {

// Equality without an early exit or a data-dependent branch, eight bytes at a time: a bearer
// token is ~600 bytes, and CRYPTO_memcmp's byte loop costs a third of a microsecond on it.
// The time taken depends on the length only.
bool same_bytes(const char* a, const char* b, std::size_t n) {
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    diff |= x ^ y;
  }
  for (; i < n; ++i) {
    diff |= static_cast<std::uint64_t>(static_cast<unsigned char>(a[i]) ^
                                       static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

}  // namespace

void CredentialMemo::clear() {
  owner = 0;
  OPENSSL_cleanse(credential.data(), credential.size());
  credential.clear();
}

void CredentialMemo::swap(CredentialMemo& other) noexcept {
  std::swap(owner, other.owner);
  credential.swap(other.credential);
  std::swap(identity, other.identity);
  std::swap(valid_from, other.valid_from);
  std::swap(valid_until, other.valid_until);
  key.swap(other.key);
  std::swap(check, other.check);
}

bool CredentialMemo::matches(std::uint64_t who, std::string_view presented) const {
  // The memo may hold another client's credential (a proxy in front can share one connection
  // among its users), so the bytes are compared without an early exit.
  return owner != 0 && owner == who && presented.size() == credential.size() &&
         same_bytes(presented.data(), credential.data(), credential.size());
}

std::uint64_t next_memo_owner() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace portcullis::auth
