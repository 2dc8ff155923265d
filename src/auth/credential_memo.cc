#include "auth/credential_memo.h"

#include <openssl/crypto.h>

#include <atomic>
#include <cstring>

namespace portcullis::auth {

namespace {

// Equality without an early exit or a data-dependent branch, 32 bytes at a time in four
// independent lanes (a bearer token is ~600 bytes: CRYPTO_memcmp's byte loop costs a third of
// a microsecond on it, one 8-byte lane ~400 instructions). The time taken depends on the
// length only.
bool same_bytes(const char* a, const char* b, std::size_t n) {
  std::uint64_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  std::size_t i = 0;
  const auto lane = [&](std::size_t at) {
    std::uint64_t x, y;
    std::memcpy(&x, a + at, 8);
    std::memcpy(&y, b + at, 8);
    return x ^ y;
  };
  for (; i + 32 <= n; i += 32) {
    d0 |= lane(i);
    d1 |= lane(i + 8);
    d2 |= lane(i + 16);
    d3 |= lane(i + 24);
  }
  for (; i + 8 <= n; i += 8) d0 |= lane(i);
  for (; i < n; ++i) {
    d1 |= static_cast<std::uint64_t>(static_cast<unsigned char>(a[i]) ^
                                     static_cast<unsigned char>(b[i]));
  }
  return (d0 | d1 | d2 | d3) == 0;
}

}  // namespace

void CredentialMemo::set_identity(const identity::Identity& who) {
  identity_ = who;
  rendered = {};
}

void CredentialMemo::clear() {
  owner = 0;
  rendered = {};
  OPENSSL_cleanse(credential.data(), credential.size());
  credential.clear();
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
