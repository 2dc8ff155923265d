#include "identity/context_cache.h"

#include <algorithm>
#include <functional>

#include "common/sharded.h"

namespace portcullis::identity {

ContextCache::ContextCache(std::size_t capacity, std::size_t shards) {
  if (shards == 0) shards = 1;
  per_shard_ = std::max<std::size_t>(1, capacity / shards);
  for (std::size_t i = 0; i < shards; ++i) shards_.push_back(std::make_unique<Shard>());
}

ContextCache::Shard& ContextCache::shard_for(std::string_view key) {
  return *shards_[std::hash<std::string_view>{}(key) % shards_.size()];
}

bool ContextCache::find(std::string_view key, std::int64_t now, std::string& out) {
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  auto it = s.index.find(key);
  if (it == s.index.end() || now >= it->second->fresh_until) return false;
  s.lru.splice(s.lru.begin(), s.lru, it->second);
  out += it->second->token;
  return true;
}

void ContextCache::put(std::string_view key, std::string_view token, std::int64_t fresh_until) {
  Shard& s = shard_for(key);
  std::lock_guard lock(s.mu);
  if (auto it = s.index.find(key); it != s.index.end()) {
    it->second->token.assign(token);
    it->second->fresh_until = fresh_until;
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return;
  }
  if (s.index.size() >= per_shard_) {
    s.index.erase(s.lru.back().key);
    s.lru.pop_back();
  }
  s.lru.push_front(Entry{std::string(key), std::string(token), fresh_until});
  s.index.emplace(s.lru.front().key, s.lru.begin());
}

std::size_t ContextCache::size() const {
  return sum_over_shards(shards_, [](const Shard& s) { return s.index.size(); });
}

}  // namespace portcullis::identity
