#include "auth/api_key/key_store.h"

#include <algorithm>
#include <tuple>

#include "common/enum_names.h"

namespace portcullis::auth::api_key {

namespace {
constexpr EnumName<KeyStatus> kStatusNames[] = {{KeyStatus::Active, "active"},
                                                {KeyStatus::Disabled, "disabled"},
                                                {KeyStatus::Revoked, "revoked"}};
}  // namespace

std::string_view to_string(KeyStatus s) {
  return name_of(kStatusNames, s, "revoked");
}

std::optional<KeyStatus> parse_status(std::string_view s) {
  return value_of(kStatusNames, s);
}

KeyInfo KeyInfo::from(const KeyRow& r) {
  KeyInfo k;
  k.id = r.id;
  k.client_id = r.client_id;
  k.scopes = r.scopes;
  k.routes = r.routes;
  k.cidrs = r.cidrs;
  k.label = r.label;
  k.rate_limit = r.rate_limit;
  k.status = r.status;
  k.created_at = r.created_at;
  k.expires_at = r.expires_at;
  k.last_used_at = r.last_used_at;
  k.seq = r.seq;
  return k;
}

KeyRecord KeyRecord::from(const KeyRow& r) {
  return KeyRecord{KeyInfo::from(r), std::string(r.secret_hmac)};
}

ImportAction plan_import(const std::optional<KeyRecord>& existing, const KeyRecord& incoming,
                         KeyRecord& write) {
  write = incoming;
  if (!existing) return ImportAction::Insert;
  if (existing->secret_hmac != incoming.secret_hmac) return ImportAction::Conflict;
  const KeyInfo& old = existing->info;
  KeyInfo& k = write.info;
  if (old.status == KeyStatus::Revoked) k.status = KeyStatus::Revoked;  // revocation is final
  if (old.last_used_at && (!k.last_used_at || *k.last_used_at < *old.last_used_at)) {
    k.last_used_at = old.last_used_at;
  }
  const bool same =
      std::tie(k.client_id, k.scopes, k.routes, k.cidrs, k.label, k.rate_limit, k.status,
               k.created_at, k.expires_at, k.last_used_at) ==
      std::tie(old.client_id, old.scopes, old.routes, old.cidrs, old.label, old.rate_limit,
               old.status, old.created_at, old.expires_at, old.last_used_at);
  return same ? ImportAction::Unchanged : ImportAction::Update;
}

void ImportCounts::count(ImportAction a, std::string_view id) {
  switch (a) {
    case ImportAction::Insert:
      ++added;
      break;
    case ImportAction::Update:
      ++updated;
      break;
    case ImportAction::Unchanged:
      ++unchanged;
      break;
    case ImportAction::Conflict:
      if (conflicts++ == 0) first_conflict = std::string(id);
      break;
  }
}

WriteResult check_update(const std::optional<KeyInfo>& current, std::string_view id,
                         const KeyUpdate& change, bool& changes, std::string& error) {
  changes = false;
  if (!current) {
    error = "no key with id " + std::string(id);
    return WriteResult::NotFound;
  }
  if (current->status == KeyStatus::Revoked) {
    error = "key " + std::string(id) + " is revoked; revocation is final (create a new key)";
    return WriteResult::Refused;
  }
  changes = change.rate_limit && *change.rate_limit != current->rate_limit;
  return WriteResult::Ok;
}

bool usable(const KeyInfo& k, std::int64_t now) {
  return k.status == KeyStatus::Active && (!k.expires_at || *k.expires_at > now);
}

std::string_view effective_status(const KeyInfo& k, std::int64_t now) {
  if (k.status == KeyStatus::Active && k.expires_at && *k.expires_at <= now) return "expired";
  return to_string(k.status);
}

RotationPlan plan_rotation(const std::vector<KeyInfo>& client_keys, std::int64_t now,
                           std::int64_t grace_seconds) {
  RotationPlan plan;
  const KeyInfo* newest = nullptr;
  for (const auto& k : client_keys) {
    if (!usable(k, now)) continue;
    if (newest == nullptr || std::tie(k.created_at, k.seq, k.id) >
                                 std::tie(newest->created_at, newest->seq, newest->id)) {
      newest = &k;
    }
  }
  if (newest == nullptr) {
    plan.error = "has no active key to rotate (create one with `keys create`)";
    return plan;
  }
  plan.template_key = *newest;
  const std::int64_t until = now + std::max<std::int64_t>(grace_seconds, 0);
  for (const auto& k : client_keys) {
    if (!usable(k, now)) continue;
    if (k.expires_at && *k.expires_at <= until) continue;  // already expires sooner
    plan.expire.emplace_back(k.id, until);
  }
  plan.ok = true;
  return plan;
}

}  // namespace portcullis::auth::api_key
