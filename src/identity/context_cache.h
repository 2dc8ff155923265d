// ContextCache: signed identity contexts by what went into them (identity/context_signer.h),
// so a repeated identity costs a lookup instead of a signature. Bounded (least recently used
// entries go first) and sharded by the key's hash, each shard with its own lock, so workers
// meet on a lock only when their identities hash alike. An entry is served until its
// `fresh_until`; the caller then signs a new one.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portcullis::identity {

class ContextCache {
 public:
  // `capacity` entries at most over all shards (at least one per shard).
  explicit ContextCache(std::size_t capacity, std::size_t shards = 16);

  // Appends the token cached for `key` to `out` when it is fresh at `now` (Unix seconds).
  bool find(std::string_view key, std::int64_t now, std::string& out);
  // Adds or replaces the token for `key`, evicting the shard's least recently used entry
  // when it is full.
  void put(std::string_view key, std::string_view token, std::int64_t fresh_until);
  std::size_t size() const;

 private:
  struct Entry {
    std::string key;
    std::string token;
    std::int64_t fresh_until = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::list<Entry> lru;                                                    // most recent first
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index;  // keys in lru
  };
  Shard& shard_for(std::string_view key);

  std::vector<std::unique_ptr<Shard>> shards_;
  std::size_t per_shard_;
};

}  // namespace portcullis::identity
