// Helpers for the sharded caches (identity/context_cache, auth/oauth2/introspection_cache):
// shards held by pointer, each with its own mutex `mu`.
#pragma once

#include <cstddef>
#include <mutex>

namespace portcullis {

// The sum of `count(shard)` over `shards`, each read under its own lock: a moment's figure
// for metrics and tests, not a total that held at one instant.
template <class Shards, class Count>
std::size_t sum_over_shards(const Shards& shards, Count count) {
  std::size_t n = 0;
  for (const auto& s : shards) {
    std::lock_guard lock(s->mu);
    n += count(*s);
  }
  return n;
}

}  // namespace portcullis
