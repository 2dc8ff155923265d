// The verified-token cache: SHA-256 of a token that passed every check -> the Identity it
// proved, until min(exp, verification time + cache_max_s). Shared by all workers; sharded
// (16 shards, one mutex each) so that workers rarely meet on a lock; each shard is an LRU
// bounded by its share of token_cache_entries. Only valid tokens are ever put in, and a hit
// still checks exp/nbf against the clock.
#pragma once

#include <array>
#include <cstring>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <vector>

#include "auth/jwt/claims.h"
#include "identity/identity.h"

namespace portcullis::auth::jwt {

using TokenDigest = std::array<unsigned char, 32>;

struct CachedToken {
  identity::Identity identity;
  TokenTimes times;          // exp / nbf re-checked on every hit
  std::int64_t expires_at = 0;  // unix seconds: min(exp, verified_at + cache_max_s)
};

class TokenCache {
 public:
  // At most `capacity` entries in all; 0 disables the cache (get misses, put does nothing).
  TokenCache(std::size_t capacity, std::int64_t clock_skew_s);

  bool enabled() const { return capacity_ > 0; }
  // A copy of the identity when the token is cached and still valid at `now`.
  bool get(const TokenDigest& key, std::int64_t now, identity::Identity& out);
  // The same, with the entry's times (for the connection memo).
  bool get(const TokenDigest& key, std::int64_t now, CachedToken& out);
  void put(const TokenDigest& key, CachedToken entry);
  std::size_t size() const;

  static constexpr std::size_t kShards = 16;

 private:
  struct Entry {
    TokenDigest key;
    CachedToken value;
  };
  struct DigestHash {
    std::size_t operator()(const TokenDigest& d) const {
      std::size_t h;
      static_assert(sizeof h <= sizeof(TokenDigest));
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  struct Shard {
    std::mutex mu;
    std::list<Entry> lru;  // front = most recently used
    std::unordered_map<TokenDigest, std::list<Entry>::iterator, DigestHash> index;
  };
  Shard& shard_for(const TokenDigest& key) { return shards_[key[31] % shard_count_]; }

  const std::size_t capacity_;
  const std::size_t shard_count_;  // min(kShards, capacity), so the total never exceeds capacity
  const std::size_t per_shard_;
  const std::int64_t skew_;
  std::array<Shard, kShards> shards_;
};

}  // namespace portcullis::auth::jwt
