#include "auth/credential_memo.h"

#include <openssl/crypto.h>

#include <atomic>

namespace portcullis::auth {

bool CredentialMemo::matches(std::uint64_t who, std::string_view presented) const {
  // The memo may hold another client's credential (a proxy in front can share one connection
  // among its users), so the bytes are compared without an early exit.
  return owner != 0 && owner == who && presented.size() == credential.size() &&
         CRYPTO_memcmp(presented.data(), credential.data(), credential.size()) == 0;
}

std::uint64_t next_memo_owner() {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace portcullis::auth
