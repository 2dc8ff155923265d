// KeyStore: where API keys live. The gateway only reads (load_all, changes_since) and records
// usage; the `portcullis keys` CLI writes. SqliteKeyStore is the embedded default,
// PostgresKeyStore the one several gateways share (postgres_store.h).
//
// Every change to a key (create, status, expiry) gives the changed rows a new `seq`, one
// higher than any before, so a reader that remembers the highest seq it has seen can ask
// for exactly what changed since. Rows are never deleted: revoke instead.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/api_key/secret_hash.h"

namespace portcullis::auth::api_key {

enum class KeyStatus : std::uint8_t { Active, Disabled, Revoked };

std::string_view to_string(KeyStatus s);
std::optional<KeyStatus> parse_status(std::string_view s);

// One stored key. The string views are valid only during the visitor call.
struct KeyRow {
  std::string_view id;
  std::string_view secret_hmac;  // 32 raw bytes: HMAC-SHA-256(pepper, secret)
  std::string_view client_id;
  KeyStatus status = KeyStatus::Active;
  std::int64_t created_at = 0;             // unix seconds
  std::optional<std::int64_t> expires_at;  // unix seconds; none = never
  std::string_view scopes;                 // space-separated
  std::string_view routes;                 // space-separated route names; empty = any
  std::string_view cidrs;                  // space-separated CIDR blocks; empty = any
  std::string_view label;
  std::optional<std::int64_t> last_used_at;
  std::int64_t seq = 0;
  // The key's own rate plan, "1000/1m" (identity/rate_plan.h); empty: the route's limits.
  std::string_view rate_limit;
};

using RowVisitor = std::function<void(const KeyRow&)>;

// What an operator creates. Owned strings (the CLI builds it).
struct NewKey {
  std::string id;
  Digest secret_hmac{};
  std::string client_id;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::string scopes, routes, cidrs, label;
  std::string rate_limit;  // canonical plan text, or empty
};

// An owned copy of a row, for listings and the CLI.
struct KeyInfo {
  std::string id, client_id, scopes, routes, cidrs, label, rate_limit;
  KeyStatus status = KeyStatus::Active;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at, last_used_at;
  std::int64_t seq = 0;
  static KeyInfo from(const KeyRow& r);
};

// Active, not yet expired: the key authenticates.
bool usable(const KeyInfo& k, std::int64_t now);
// "active", "disabled", "revoked" or "expired".
std::string_view effective_status(const KeyInfo& k, std::int64_t now);

// What a rotation does (plan_rotation is pure, so it is tested without a store).
struct RotationPlan {
  bool ok = false;
  std::string error;
  KeyInfo template_key;  // the client's newest usable key: scopes, routes, cidrs, plan copied
  std::vector<std::pair<std::string, std::int64_t>> expire;  // id -> new expires_at
};
// Every usable key of the client expires at now + grace (an earlier expiry is kept); the new
// key copies the newest usable key's scopes, routes, CIDRs and rate plan.
RotationPlan plan_rotation(const std::vector<KeyInfo>& client_keys, std::int64_t now,
                           std::int64_t grace_seconds);

// An owned copy of a stored key with its hash: what `keys copy` moves between stores.
struct KeyRecord {
  KeyInfo info;
  std::string secret_hmac;  // 32 raw bytes
  static KeyRecord from(const KeyRow& r);
};

// What importing one key into a store does (plan_import is pure, shared by the stores).
enum class ImportAction : std::uint8_t {
  Insert,     // not there yet
  Update,     // the same key (id and hash) with other settings: take the incoming ones
  Unchanged,  // the same key with the same settings
  Conflict,   // another key with this id (a different hash): left alone
};
// `write` receives the row to store for Insert and Update: the incoming settings, except that
// a key revoked where it is stays revoked, and the later last_used_at wins.
ImportAction plan_import(const std::optional<KeyRecord>& existing, const KeyRecord& incoming,
                         KeyRecord& write);

struct ImportCounts {
  std::size_t added = 0, updated = 0, unchanged = 0, conflicts = 0;
  std::string first_conflict;  // a key id
  void count(ImportAction a, std::string_view id);
};

enum class WriteResult : std::uint8_t { Ok, NotFound, Conflict, Refused, Error };

// What `keys update` changes on an existing key; a field left empty is left alone.
struct KeyUpdate {
  std::optional<std::string> rate_limit;  // canonical plan text; "" removes the plan
  bool empty() const { return !rate_limit; }
};
// Whether `change` may be applied to the key `current` (none: no such key), shared by the
// stores: NotFound, Refused (revoked: final) or Ok; `changes` says whether anything differs.
WriteResult check_update(const std::optional<KeyInfo>& current, std::string_view id,
                         const KeyUpdate& change, bool& changes, std::string& error);

struct PollResult {
  bool ok = false;
  bool reset = false;  // the store was replaced: the rows visited are the whole set
  std::int64_t max_seq = 0;
  std::string error;
};

class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // "sqlite:/var/lib/portcullis/keys.db": for logs (never contains a secret).
  virtual std::string describe() const = 0;

  // Stores the pepper fingerprint when the store has none; refuses (false, `error`) when it
  // holds a different one.
  virtual bool bind_pepper(const Digest& fingerprint, std::string& error) = 0;

  // The pepper fingerprint the store is bound to; none when no pepper was bound yet.
  virtual bool pepper_fingerprint(std::optional<Digest>& out, std::string& error) = 0;

  // ---- Gateway side.
  // About how many keys the store holds (0: unknown), so a first load can size its table.
  virtual std::size_t estimated_keys() { return 0; }
  // Every key. max_seq is the highest seq seen (0 for an empty store).
  virtual PollResult load_all(const RowVisitor& visit) = 0;
  // Keys whose seq is above `seq`. When the store was replaced underneath (a restored
  // backup), `reset` is set and every key is visited.
  virtual PollResult changes_since(std::int64_t seq, const RowVisitor& visit) = 0;
  // Sets last_used_at = when for these ids, in one transaction. Does not change seq.
  virtual bool record_usage(const std::vector<std::string>& ids, std::int64_t when,
                            std::string& error) = 0;
  // Calls `on_change`, from a thread of the store's, whenever the store may have changed (a
  // PostgreSQL notification, a reconnection) so that the reader polls at once instead of at
  // its next interval. The default (SQLite): never called. unwatch() stops the calls and
  // returns once none is running.
  virtual void watch(std::function<void()> on_change) { (void)on_change; }
  virtual void unwatch() {}

  // ---- Administration (the CLI).
  virtual bool list(std::optional<std::string_view> client, std::vector<KeyInfo>& out,
                    std::string& error) = 0;
  virtual bool get(std::string_view id, std::optional<KeyInfo>& out, std::string& error) = 0;
  // Conflict when the id exists already.
  virtual WriteResult create(const NewKey& key, std::string& error) = 0;
  // Revoked is final: NotFound, or Refused with `error` explaining.
  virtual WriteResult set_status(std::string_view id, KeyStatus status, std::string& error) = 0;
  // Changes the settings `change` names (a revoked key: Refused; no key: NotFound). An update
  // that changes nothing keeps the key's seq; any other gives it the next one, so running
  // gateways pick it up like any other change.
  virtual WriteResult update(std::string_view id, const KeyUpdate& change, std::string& error) = 0;
  // Atomically: plan the rotation of the client's keys (plan_rotation), insert
  // `make_new(template)` and apply the expiries. `plan` receives what was done.
  virtual WriteResult rotate(std::string_view client, std::int64_t now, std::int64_t grace_seconds,
                             const std::function<NewKey(const KeyInfo& template_key)>& make_new,
                             RotationPlan& plan, std::string& error) = 0;
  // Atomically: every record planned with plan_import and written; the counts say what was
  // done. Conflicts are not errors (they are counted); the result is Ok unless the store
  // failed.
  virtual WriteResult import_keys(const std::vector<KeyRecord>& records, ImportCounts& counts,
                                  std::string& error) = 0;
};

}  // namespace portcullis::auth::api_key
