#include "auth/oauth2/introspection_cache.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/sharded.h"

namespace portcullis::auth::oauth2 {

TokenKey token_key(std::string_view token) {
  // Fetched once: an implicit fetch (EVP_sha256()) costs a lookup and a lock on every call.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  TokenKey key{};
  unsigned int len = 0;
  if (sha256 == nullptr ||
      EVP_Digest(token.data(), token.size(), key.data(), &len, sha256, nullptr) != 1 ||
      len != key.size()) {
    // Cannot happen with a working libcrypto; an all-zero key would alias every token, so
    // refuse to go on rather than mix identities.
    std::abort();
  }
  return key;
}

std::string credential_id(const TokenKey& key) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < 6; ++i) {
    out += kHex[key[i] >> 4];
    out += kHex[key[i] & 0xf];
  }
  return out;
}

std::size_t IntrospectionCache::KeyHash::operator()(const TokenKey& k) const noexcept {
  std::size_t h;
  std::memcpy(&h, k.data(), sizeof h);  // a SHA-256 is already uniform
  return h;
}

IntrospectionCache::IntrospectionCache(std::size_t capacity, Now now)
    : capacity_(std::max<std::size_t>(1, capacity)), now_(std::move(now)) {
  // Small caches get one shard so that the bound is exact; big ones spread the locking.
  const std::size_t n = capacity_ >= 1024 ? 16 : 1;
  for (std::size_t i = 0; i < n; ++i) {
    auto s = std::make_unique<Shard>();
    s->capacity = capacity_ / n + (i < capacity_ % n ? 1 : 0);
    shards_.push_back(std::move(s));
  }
}

IntrospectionCache::Shard& IntrospectionCache::shard_of(const TokenKey& key) {
  // Byte 8 is not used by KeyHash (bytes 0..7), so shard and bucket are independent.
  return *shards_[key[8] % shards_.size()];
}

DecisionPtr IntrospectionCache::find(const TokenKey& key, Clock::time_point* expires) {
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end() || it->second->expires <= now()) return nullptr;
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  if (expires != nullptr) *expires = it->second->expires;
  return it->second->decision;
}

IntrospectionCache::Lookup IntrospectionCache::lookup(const TokenKey& key, Waiter waiter) {
  Shard& s = shard_of(key);
  DecisionPtr hit;
  {
    std::lock_guard lock(s.mu);
    if (auto it = s.index.find(key); it != s.index.end()) {
      if (it->second->expires > now()) {
        s.lru.splice(s.lru.begin(), s.lru, it->second);
        hit = it->second->decision;
      } else {
        s.lru.erase(it->second);
        s.index.erase(it);
      }
    }
    if (!hit) {
      auto [w, fresh] = s.waiting.try_emplace(key);
      w->second.push_back(std::move(waiter));
      return fresh ? Lookup::Leader : Lookup::Joined;
    }
  }
  waiter(hit);
  return hit->positive() ? Lookup::HitPositive : Lookup::HitNegative;
}

void IntrospectionCache::complete(const TokenKey& key, DecisionPtr decision, Clock::duration ttl) {
  Shard& s = shard_of(key);
  std::vector<Waiter> waiters;
  {
    std::lock_guard lock(s.mu);
    if (auto w = s.waiting.find(key); w != s.waiting.end()) {
      waiters = std::move(w->second);
      s.waiting.erase(w);
    }
    if (ttl > Clock::duration::zero() && s.capacity > 0) {
      const auto expires = now() + ttl;
      if (auto it = s.index.find(key); it != s.index.end()) {
        it->second->decision = decision;
        it->second->expires = expires;
        s.lru.splice(s.lru.begin(), s.lru, it->second);
      } else {
        while (s.lru.size() >= s.capacity) {
          s.index.erase(s.lru.back().key);
          s.lru.pop_back();
        }
        s.lru.push_front(Entry{key, decision, expires});
        s.index.emplace(key, s.lru.begin());
      }
    }
  }
  for (auto& w : waiters) w(decision);
}

std::size_t IntrospectionCache::size() const {
  return sum_over_shards(shards_, [](const Shard& s) { return s.lru.size(); });
}

std::size_t IntrospectionCache::in_flight() const {
  return sum_over_shards(shards_, [](const Shard& s) { return s.waiting.size(); });
}

}  // namespace portcullis::auth::oauth2
