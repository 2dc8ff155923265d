// The introspection cache, shared by every worker: SHA-256 of the token -> the decision
// made from the provider's answer. Positive decisions live until min(exp, now + cache_s),
// refusals for negative_cache_s (the caller passes the TTL). Bounded LRU, sharded with a
// mutex per shard. Concurrent lookups of the same uncached token coalesce: the first
// caller (the leader) introspects, the others wait for its answer, so one token costs one
// call however many requests carry it. The token itself is never stored.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/authenticator.h"

namespace portcullis::auth::oauth2 {

using TokenKey = std::array<unsigned char, 32>;

// SHA-256 of the token (OpenSSL).
TokenKey token_key(std::string_view token);
// The first 12 hex digits of the key: a handle for logs that does not reveal the token.
std::string credential_id(const TokenKey& key);

// What the cache holds: the result to answer with (Ok with an identity, or a refusal).
struct Decision {
  AuthResult result;
  bool positive() const { return result.status == Status::Ok; }
};
using DecisionPtr = std::shared_ptr<const Decision>;

class IntrospectionCache {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;
  using Waiter = std::function<void(const DecisionPtr&)>;

  enum class Lookup : std::uint8_t {
    HitPositive,  // waiter already called with a cached positive decision
    HitNegative,  // waiter already called with a cached refusal
    Joined,       // another caller is introspecting this token; waiter called on complete()
    Leader,       // caller must introspect and call complete(); waiter called then
  };

  explicit IntrospectionCache(std::size_t capacity, Now now = {});

  // The hot path: the cached decision, or null (expired entries are left to lookup()).
  // `expires`, when given, receives the entry's end.
  DecisionPtr find(const TokenKey& key, Clock::time_point* expires = nullptr);

  // The cache's clock (steady; a fake one in tests).
  Clock::time_point now() const { return now_ ? now_() : Clock::now(); }

  // The cache's clock (steady; a fake one in tests).

  // Looks the key up. On a hit, calls `waiter` before returning (outside any lock).
  Lookup lookup(const TokenKey& key, Waiter waiter);

  // The leader's answer for `key`: stored for `ttl` when ttl > 0 (0 or less: handed out
  // but not stored, e.g. a provider failure), then every waiter is called, outside the lock.
  void complete(const TokenKey& key, DecisionPtr decision, Clock::duration ttl);

  std::size_t size() const;       // stored entries (expired ones included until touched)
  std::size_t in_flight() const;  // keys being introspected
  std::size_t capacity() const { return capacity_; }

 private:
  struct KeyHash {
    std::size_t operator()(const TokenKey& k) const noexcept;
  };
  struct Entry {
    TokenKey key;
    DecisionPtr decision;
    Clock::time_point expires;
  };
  struct Shard {
    mutable std::mutex mu;
    std::size_t capacity = 0;
    std::list<Entry> lru;  // most recently used first
    std::unordered_map<TokenKey, std::list<Entry>::iterator, KeyHash> index;
    std::unordered_map<TokenKey, std::vector<Waiter>, KeyHash> waiting;
  };

  Shard& shard_of(const TokenKey& key);

  const std::size_t capacity_;
  const Now now_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace portcullis::auth::oauth2
