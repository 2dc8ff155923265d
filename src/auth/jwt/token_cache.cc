#include "auth/jwt/token_cache.h"

#include <algorithm>

namespace portcullis::auth::jwt {

TokenCache::TokenCache(std::size_t capacity, std::int64_t clock_skew_s)
    : capacity_(capacity),
      shard_count_(capacity == 0 ? 1 : std::min(kShards, capacity)),
      per_shard_(capacity / shard_count_),
      skew_(clock_skew_s) {}

bool TokenCache::get(const TokenDigest& key, std::int64_t now, identity::Identity& out) {
  CachedToken entry;
  if (!get(key, now, entry)) return false;
  out = std::move(entry.identity);
  return true;
}

bool TokenCache::get(const TokenDigest& key, std::int64_t now, CachedToken& out) {
  if (capacity_ == 0) return false;
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end()) return false;
  const CachedToken& v = it->second->value;
  if (now >= v.expires_at || !times_valid(v.times, now, skew_)) {
    s.lru.erase(it->second);
    s.index.erase(it);
    return false;
  }
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  out = v;
  return true;
}

void TokenCache::put(const TokenDigest& key, CachedToken entry) {
  if (capacity_ == 0) return;
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  if (auto it = s.index.find(key); it != s.index.end()) {
    it->second->value = std::move(entry);
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  while (s.lru.size() >= per_shard_ && !s.lru.empty()) {
    s.index.erase(s.lru.back().key);
    s.lru.pop_back();
  }
  s.lru.push_front({key, std::move(entry)});
  s.index.emplace(key, s.lru.begin());
}

std::size_t TokenCache::size() const {
  std::size_t n = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(const_cast<std::mutex&>(s.mu));
    n += s.lru.size();
  }
  return n;
}

}  // namespace portcullis::auth::jwt
