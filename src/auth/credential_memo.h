// The per-connection memo of the last accepted credential (see CredentialMemo).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "identity/identity.h"

namespace portcullis::auth {

// One connection's memory of the last credential a mechanism accepted on it. Clients on
// keep-alive connections present the same credential request after request; a mechanism
// that finds it here (same owner, same bytes, compared in constant time) skips re-deriving
// what it proved (checksum and HMAC of an API key, SHA-256 and cache lookup of a token) and
// still checks everything that can change (clock, key status, routes, source address). A
// mechanism with a cache fills the memo only where the cache would hold the answer, and never
// for longer: turning a cache off turns the memo off.
struct CredentialMemo {
  // Who wrote it (a key registry, a JWT or OAuth2 provider: next_memo_owner()); 0: empty.
  std::uint64_t owner = 0;
  std::string credential;  // the exact credential bytes accepted
  // In the owner's clock (JWT: unix seconds; OAuth2: steady-clock ticks of its cache).
  std::int64_t valid_from = 0;            // not used before (JWT: nbf - skew)
  std::int64_t valid_until = 0;           // not used from then on
  std::string key;                        // the mechanism's lookup handle (API key id)
  std::array<unsigned char, 32> check{};  // the mechanism's check value (stored HMAC)

  CredentialMemo() = default;
  CredentialMemo(const CredentialMemo&) = delete;
  CredentialMemo& operator=(const CredentialMemo&) = delete;
  ~CredentialMemo() { clear(); }

  // Whom the credential names (JWT, OAuth2; an API key's memo keeps only its handle).
  const identity::Identity& identity() const { return identity_; }
  // Replaces whom the memo names, and forgets the previous identity's rendering.
  void set_identity(const identity::Identity& who);
  // The identity's upstream header lines as identity::forward_identity wrote them last, for
  // the next requests naming the same identity (see identity::RenderedIdentity). Emptied
  // whenever the identity changes or the memo is cleared.
  identity::RenderedIdentity rendered;

  // Forgets the credential (its bytes are overwritten, not just released).
  void clear();
  // True when `owner` wrote this memo for exactly `credential` (constant time in the bytes).
  bool matches(std::uint64_t owner, std::string_view credential) const;

 private:
  identity::Identity identity_;
};

// A process-wide unique, never reused, non-zero value for CredentialMemo::owner: an address
// could be reused by a mechanism built after a reload.
std::uint64_t next_memo_owner();

}  // namespace portcullis::auth
