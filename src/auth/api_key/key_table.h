// KeyTable: the gateway's in-memory view of the key store, id -> what a request needs to be
// decided without I/O. Lookups take a shared lock on one of 16 shards (O(1), no allocation);
// the poller thread is the only writer.
//
// Records are compact (~135 bytes with the map node: 1,000,000 keys take ~135 MB):
// client ids, scope lists, route lists, CIDR lists and rate plans are interned, and an entry points
// at the shared copy. The pools only grow (by distinct values, which are few) and live as long as
// the table, so a pointer read under the lock stays valid after it is released.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "auth/api_key/key_format.h"
#include "auth/api_key/key_store.h"
#include "identity/identity.h"
#include "ip/cidr.h"

namespace portcullis::auth::api_key {

using KeyId = std::array<char, kIdLength>;

struct KeyEntry {
  Digest secret_hmac{};
  const std::string* client_id = nullptr;
  const std::vector<std::string>* scopes = nullptr;  // never null once stored
  const std::vector<std::string>* routes = nullptr;  // null: any route
  const std::vector<ip::Cidr>* cidrs = nullptr;      // null: any source
  const identity::RatePlan* plan = nullptr;          // the key's own rate plan; null: the route's
  std::int64_t expires_at = std::numeric_limits<std::int64_t>::max();  // max: never
  std::uint32_t stamp = 0;  // poll generation that last wrote the entry
  KeyStatus status = KeyStatus::Revoked;
  bool cidrs_invalid = false;  // the stored CIDR list did not parse: no source is allowed
};

class KeyTable {
 public:
  KeyTable() = default;
  KeyTable(const KeyTable&) = delete;
  KeyTable& operator=(const KeyTable&) = delete;

  // ---- Readers (any thread).
  bool find(std::string_view id, KeyEntry& out) const;
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

  // ---- The writer (one thread at a time).
  enum class Upsert { Stored, BadRow, BadCidrs, BadPlan };
  // Inserts or replaces the row's entry with `stamp`. A row that cannot be used (bad id or
  // hash length, BadRow; a rate plan that does not read, BadPlan: failing closed, since the
  // route's limits may be laxer than the plan) removes any entry with that id.
  Upsert upsert(const KeyRow& row, std::uint32_t stamp);
  // Removes every entry whose stamp differs (after a full reload with `stamp`).
  std::size_t erase_unstamped(std::uint32_t stamp);
  void reserve(std::size_t n);

 private:
  struct IdHash {
    std::size_t operator()(const KeyId& id) const noexcept {
      return std::hash<std::string_view>{}(std::string_view(id.data(), id.size()));
    }
  };
  using Map = std::unordered_map<KeyId, KeyEntry, IdHash>;
  struct alignas(64) Shard {
    mutable std::shared_mutex mu;
    Map map;
  };
  static constexpr std::size_t kShards = 16;

  static KeyId to_id(std::string_view id);
  Shard& shard_of(const KeyId& id) const;

  const std::string* intern_client(std::string_view s);
  const std::vector<std::string>* intern_list(std::string_view s);
  const std::vector<ip::Cidr>* intern_cidrs(std::string_view s, bool& ok);
  // Null when `s` is not a plan.
  const identity::RatePlan* intern_plan(std::string_view s);
  void erase(std::string_view id);

  mutable std::array<Shard, kShards> shards_;
  std::atomic<std::size_t> size_{0};

  // Writer-only; readers follow pointers into them, never look them up.
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  template <class V>
  using TextMap = std::unordered_map<std::string, V, TextHash, std::equal_to<>>;
  std::unordered_set<std::string, TextHash, std::equal_to<>> clients_;
  TextMap<std::unique_ptr<const std::vector<std::string>>> lists_;
  TextMap<std::unique_ptr<const std::vector<ip::Cidr>>> cidr_lists_;
  TextMap<std::unique_ptr<const identity::RatePlan>> plans_;
};

}  // namespace portcullis::auth::api_key
