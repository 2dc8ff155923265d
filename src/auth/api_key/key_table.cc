#include "auth/api_key/key_table.h"

#include <cstring>

#include "identity/identity.h"
#include "identity/rate_plan.h"

namespace portcullis::auth::api_key {

KeyId KeyTable::to_id(std::string_view id) {
  KeyId k{};
  std::memcpy(k.data(), id.data(), std::min(id.size(), k.size()));
  return k;
}

KeyTable::Shard& KeyTable::shard_of(const KeyId& id) const {
  // Different bits from the ones the map's buckets use.
  return shards_[(IdHash{}(id) >> 32) % kShards];
}

bool KeyTable::find(std::string_view id, KeyEntry& out) const {
  if (id.size() != kIdLength) return false;
  const KeyId k = to_id(id);
  const Shard& s = shard_of(k);
  std::shared_lock lock(s.mu);
  auto it = s.map.find(k);
  if (it == s.map.end()) return false;
  out = it->second;
  return true;
}

void KeyTable::reserve(std::size_t n) {
  for (auto& s : shards_) {
    std::unique_lock lock(s.mu);
    s.map.reserve(n / kShards + 1);
  }
}

const std::string* KeyTable::intern_client(std::string_view s) {
  if (auto it = clients_.find(s); it != clients_.end()) return &*it;
  return &*clients_.emplace(s).first;
}

const std::vector<std::string>* KeyTable::intern_list(std::string_view s) {
  auto it = lists_.find(s);
  if (it != lists_.end()) return it->second.get();
  auto list = std::make_unique<const std::vector<std::string>>(identity::split_scopes(s));
  return lists_.emplace(std::string(s), std::move(list)).first->second.get();
}

const std::vector<ip::Cidr>* KeyTable::intern_cidrs(std::string_view s, bool& ok) {
  ok = true;
  auto it = cidr_lists_.find(s);
  if (it != cidr_lists_.end()) {
    ok = !it->second->empty();
    return it->second.get();
  }
  std::vector<ip::Cidr> blocks;
  for (const auto& item : identity::split_scopes(s)) {
    ip::Cidr c;
    std::string why;
    if (!ip::parse_cidr(item, c, why)) {
      // Fail closed: a list with an unreadable block allows no source at all.
      blocks.clear();
      ok = false;
      break;
    }
    blocks.push_back(c);
  }
  auto list = std::make_unique<const std::vector<ip::Cidr>>(std::move(blocks));
  return cidr_lists_.emplace(std::string(s), std::move(list)).first->second.get();
}

const identity::RatePlan* KeyTable::intern_plan(std::string_view s) {
  if (auto it = plans_.find(s); it != plans_.end()) return it->second.get();
  const auto plan = identity::parse_rate_plan(s);
  if (!plan) return nullptr;
  auto owned = std::make_unique<const identity::RatePlan>(*plan);
  return plans_.emplace(std::string(s), std::move(owned)).first->second.get();
}

void KeyTable::erase(std::string_view id) {
  if (id.size() != kIdLength) return;
  const KeyId k = to_id(id);
  Shard& s = shard_of(k);
  std::unique_lock lock(s.mu);
  if (s.map.erase(k) > 0) size_.fetch_sub(1, std::memory_order_relaxed);
}

KeyTable::Upsert KeyTable::upsert(const KeyRow& row, std::uint32_t stamp) {
  if (!valid_key_id(row.id) || row.secret_hmac.size() != Digest().size()) {
    erase(row.id);
    return Upsert::BadRow;
  }
  KeyEntry e;
  if (!row.rate_limit.empty()) {
    e.plan = intern_plan(row.rate_limit);
    if (e.plan == nullptr) {
      erase(row.id);
      return Upsert::BadPlan;
    }
  }
  std::memcpy(e.secret_hmac.data(), row.secret_hmac.data(), e.secret_hmac.size());
  e.client_id = intern_client(row.client_id);
  e.scopes = intern_list(row.scopes);
  e.routes = row.routes.find_first_not_of(' ') == std::string_view::npos ? nullptr
                                                                         : intern_list(row.routes);
  bool cidrs_ok = true;
  if (row.cidrs.find_first_not_of(' ') != std::string_view::npos) {
    e.cidrs = intern_cidrs(row.cidrs, cidrs_ok);
    e.cidrs_invalid = !cidrs_ok;
  }
  if (row.expires_at) e.expires_at = *row.expires_at;
  e.status = row.status;
  e.stamp = stamp;

  const KeyId k = to_id(row.id);
  Shard& s = shard_of(k);
  std::unique_lock lock(s.mu);
  auto [it, inserted] = s.map.insert_or_assign(k, e);
  if (inserted) size_.fetch_add(1, std::memory_order_relaxed);
  return cidrs_ok ? Upsert::Stored : Upsert::BadCidrs;
}

std::size_t KeyTable::erase_unstamped(std::uint32_t stamp) {
  std::size_t erased = 0;
  for (auto& s : shards_) {
    std::unique_lock lock(s.mu);
    erased += std::erase_if(s.map, [&](const auto& kv) { return kv.second.stamp != stamp; });
  }
  size_.fetch_sub(erased, std::memory_order_relaxed);
  return erased;
}

}  // namespace portcullis::auth::api_key
