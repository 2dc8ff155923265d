// PostgresKeyStore: the CLI's side. Every write runs in_write_transaction: the change
// counter's row lock first (so concurrent CLIs on several machines take turns and no update
// is lost), the change, a notification on the schema's channel, one commit.
#include <algorithm>
#include <map>

#include "auth/api_key/pg_schema.h"
#include "auth/api_key/pg_values.h"
#include "auth/api_key/postgres_store.h"

namespace portcullis::auth::api_key {
namespace {

constexpr std::size_t kImportChunk = 5000;
constexpr const char* kUniqueViolation = "23505";

std::optional<std::string> optional_text(std::optional<std::int64_t> v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}

}  // namespace

WriteResult PostgresKeyStore::in_write_transaction(
    std::string& error, const std::function<WriteResult(PgConnection&, std::int64_t)>& body) {
  std::lock_guard lock(mu_);
  PgConnection* c = connection(error);
  if (c == nullptr) return WriteResult::Error;
  if (version_ > pg_schema::latest_version()) {
    error = describe() + ": the schema is at version " + std::to_string(version_) +
            ", newer than this portcullis knows (" + std::to_string(pg_schema::latest_version()) +
            "): upgrade it to write";
    return WriteResult::Refused;
  }
  if (!c->command("BEGIN", "cannot start a write", error)) {
    error = describe() + ": " + error;
    check_alive();
    return WriteResult::Error;
  }
  PgResult counter = c->query("UPDATE " + table("change_seq") + " SET seq = seq + 1 RETURNING seq");
  std::int64_t seq = 0;
  WriteResult result = WriteResult::Error;
  if (!counter.tuples_ok() || counter.rows() != 1 || !pg::parse_int64(counter.text(0, 0), seq)) {
    error = fail("cannot take the change counter");
  } else {
    result = body(*c, seq);
  }
  if (result == WriteResult::Ok) {
    PgResult n = c->query("SELECT pg_notify($1, $2)", {channel_, std::to_string(seq)});
    if (!n.tuples_ok()) {
      error = fail("cannot notify");
      result = WriteResult::Error;
    } else if (!c->command("COMMIT", "cannot commit", error)) {
      error = describe() + ": " + error;
      result = WriteResult::Error;
    } else {
      return WriteResult::Ok;
    }
  }
  c->query("ROLLBACK");
  check_alive();
  return result;
}

bool PostgresKeyStore::read_keys(PgConnection& c, const std::string& where,
                                 const std::vector<std::optional<std::string>>& params,
                                 std::vector<KeyInfo>& out, std::string& error) {
  PgResult r = c.query("SELECT " + columns() + " FROM " + table("api_keys") + " " + where, params);
  if (!r.tuples_ok()) {
    error = fail("cannot read keys");
    check_alive();
    return false;
  }
  std::string hmac;
  for (int i = 0; i < r.rows(); ++i) {
    KeyRow row;
    read_row(r, i, hmac, row);
    out.push_back(KeyInfo::from(row));
  }
  return true;
}

bool PostgresKeyStore::list(std::optional<std::string_view> client, std::vector<KeyInfo>& out,
                            std::string& error) {
  std::lock_guard lock(mu_);
  PgConnection* c = connection(error);
  if (c == nullptr) return false;
  if (client) {
    return read_keys(*c, "WHERE client_id = $1 ORDER BY created_at, seq, id",
                     {std::string(*client)}, out, error);
  }
  return read_keys(*c, "ORDER BY client_id COLLATE \"C\", created_at, seq, id", {}, out, error);
}

bool PostgresKeyStore::get(std::string_view id, std::optional<KeyInfo>& out, std::string& error) {
  std::lock_guard lock(mu_);
  out.reset();
  PgConnection* c = connection(error);
  if (c == nullptr) return false;
  std::vector<KeyInfo> found;
  if (!read_keys(*c, "WHERE id = $1", {std::string(id)}, found, error)) return false;
  if (!found.empty()) out = std::move(found.front());
  return true;
}

bool PostgresKeyStore::insert(PgConnection& c, const NewKey& key, std::int64_t seq,
                              WriteResult& result, std::string& error) {
  PgResult r =
      c.query("INSERT INTO " + table("api_keys") + " (" + kColumns +
                  ") VALUES ($1, $2::bytea, $3, 'active', $4, $5, $6, $7, $8, $9, NULL, $10, $11)",
              {key.id,
               pg::encode_bytea(std::string_view(
                   reinterpret_cast<const char*>(key.secret_hmac.data()), key.secret_hmac.size())),
               key.client_id, std::to_string(key.created_at), optional_text(key.expires_at),
               key.scopes, key.routes, key.cidrs, key.label, std::to_string(seq), key.rate_limit});
  if (r.command_ok()) return true;
  if (r.sqlstate() == kUniqueViolation) {
    error = describe() + ": key id " + key.id + " exists already";
    result = WriteResult::Conflict;
  } else {
    error = fail("cannot insert key");
    result = WriteResult::Error;
  }
  return false;
}

WriteResult PostgresKeyStore::create(const NewKey& key, std::string& error) {
  return in_write_transaction(error, [&](PgConnection& c, std::int64_t seq) {
    WriteResult result = WriteResult::Ok;
    insert(c, key, seq, result, error);
    return result;
  });
}

WriteResult PostgresKeyStore::set_status(std::string_view id, KeyStatus status,
                                         std::string& error) {
  return in_write_transaction(error, [&](PgConnection& c, std::int64_t seq) {
    std::vector<KeyInfo> found;
    if (!read_keys(c, "WHERE id = $1", {std::string(id)}, found, error)) return WriteResult::Error;
    if (found.empty()) {
      error = "no key with id " + std::string(id);
      return WriteResult::NotFound;
    }
    const KeyStatus current = found.front().status;
    if (current == KeyStatus::Revoked && status != KeyStatus::Revoked) {
      error = "key " + std::string(id) + " is revoked; revocation is final (create a new key)";
      return WriteResult::Refused;
    }
    if (current == status) return WriteResult::Ok;
    PgResult r = c.query("UPDATE " + table("api_keys") + " SET status = $1, seq = $2 WHERE id = $3",
                         {std::string(to_string(status)), std::to_string(seq), std::string(id)});
    if (r.command_ok()) return WriteResult::Ok;
    error = fail("cannot update key");
    return WriteResult::Error;
  });
}

WriteResult PostgresKeyStore::update(std::string_view id, const KeyUpdate& change,
                                     std::string& error) {
  return in_write_transaction(error, [&](PgConnection& c, std::int64_t seq) {
    std::vector<KeyInfo> found;
    if (!read_keys(c, "WHERE id = $1", {std::string(id)}, found, error)) return WriteResult::Error;
    bool changes = false;
    const std::optional<KeyInfo> current =
        found.empty() ? std::nullopt : std::optional<KeyInfo>(found.front());
    if (auto r = check_update(current, id, change, changes, error); r != WriteResult::Ok) return r;
    // Nothing to change: the transaction still commits (and notifies), harmlessly; the row
    // keeps its seq.
    if (!changes) return WriteResult::Ok;
    PgResult r =
        c.query("UPDATE " + table("api_keys") + " SET rate_limit = $1, seq = $2 WHERE id = $3",
                {*change.rate_limit, std::to_string(seq), std::string(id)});
    if (r.command_ok()) return WriteResult::Ok;
    error = fail("cannot update key");
    return WriteResult::Error;
  });
}

WriteResult PostgresKeyStore::rotate(std::string_view client, std::int64_t now,
                                     std::int64_t grace_seconds,
                                     const std::function<NewKey(const KeyInfo&)>& make_new,
                                     RotationPlan& plan, std::string& error) {
  return in_write_transaction(error, [&](PgConnection& c, std::int64_t seq) {
    std::vector<KeyInfo> keys;
    if (!read_keys(c, "WHERE client_id = $1", {std::string(client)}, keys, error)) {
      return WriteResult::Error;
    }
    plan = plan_rotation(keys, now, grace_seconds);
    if (!plan.ok) {
      error = "client " + std::string(client) + " " + plan.error;
      return WriteResult::Refused;
    }
    // The new key and the expiries share one seq: a reader sees all of them or none.
    for (const auto& [id, until] : plan.expire) {
      PgResult r =
          c.query("UPDATE " + table("api_keys") + " SET expires_at = $1, seq = $2 WHERE id = $3",
                  {std::to_string(until), std::to_string(seq), id});
      if (!r.command_ok()) {
        error = fail("cannot update keys");
        return WriteResult::Error;
      }
    }
    WriteResult result = WriteResult::Ok;
    insert(c, make_new(plan.template_key), seq, result, error);
    return result;
  });
}

bool PostgresKeyStore::import_chunk(PgConnection& c, const KeyRecord* first, std::size_t n,
                                    std::int64_t seq, ImportCounts& counts, std::string& error) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < n; ++i) ids.push_back(first[i].info.id);
  std::map<std::string, KeyRecord, std::less<>> existing;
  {
    PgResult r = c.query(
        "SELECT " + columns() + " FROM " + table("api_keys") + " WHERE id = ANY($1::text[])",
        {pg::text_array(ids)});
    if (!r.tuples_ok()) {
      error = fail("cannot read keys");
      return false;
    }
    std::string hmac;
    for (int i = 0; i < r.rows(); ++i) {
      KeyRow row;
      read_row(r, i, hmac, row);
      existing.emplace(std::string(row.id), KeyRecord::from(row));
    }
  }
  std::string data;
  for (std::size_t i = 0; i < n; ++i) {
    const KeyRecord& in = first[i];
    auto it = existing.find(in.info.id);
    KeyRecord w;
    const ImportAction action = plan_import(
        it == existing.end() ? std::nullopt : std::optional<KeyRecord>(it->second), in, w);
    counts.count(action, in.info.id);
    if (action != ImportAction::Insert && action != ImportAction::Update) continue;
    const KeyInfo& k = w.info;
    pg::append_copy_row(
        data, {k.id, pg::encode_bytea(w.secret_hmac), k.client_id, std::string(to_string(k.status)),
               std::to_string(k.created_at), optional_text(k.expires_at), k.scopes, k.routes,
               k.cidrs, k.label, optional_text(k.last_used_at), std::to_string(seq), k.rate_limit});
  }
  if (data.empty()) return true;
  if (!c.copy_in("COPY pc_import FROM STDIN", data, error)) {
    error = describe() + ": " + error;
    return false;
  }
  // The hash is never overwritten: a different one is a Conflict, left out above.
  PgResult r = c.query(
      "INSERT INTO " + table("api_keys") +
      " SELECT * FROM pc_import ON CONFLICT (id) DO UPDATE SET client_id = EXCLUDED.client_id, "
      "status = EXCLUDED.status, created_at = EXCLUDED.created_at, expires_at = "
      "EXCLUDED.expires_at, scopes = EXCLUDED.scopes, routes = EXCLUDED.routes, cidrs = "
      "EXCLUDED.cidrs, label = EXCLUDED.label, last_used_at = EXCLUDED.last_used_at, seq = "
      "EXCLUDED.seq, rate_limit = EXCLUDED.rate_limit");
  if (!r.command_ok() || !c.command("TRUNCATE pc_import", "cannot empty pc_import", error)) {
    error = fail("cannot write keys");
    return false;
  }
  return true;
}

WriteResult PostgresKeyStore::import_keys(const std::vector<KeyRecord>& records,
                                          ImportCounts& counts, std::string& error) {
  return in_write_transaction(error, [&](PgConnection& c, std::int64_t seq) {
    if (!c.command("CREATE TEMP TABLE pc_import (LIKE " + table("api_keys") +
                       " INCLUDING DEFAULTS) ON COMMIT DROP",
                   "cannot create pc_import", error)) {
      error = describe() + ": " + error;
      return WriteResult::Error;
    }
    for (std::size_t i = 0; i < records.size(); i += kImportChunk) {
      const std::size_t n = std::min(kImportChunk, records.size() - i);
      if (!import_chunk(c, records.data() + i, n, seq, counts, error)) return WriteResult::Error;
    }
    // Fresh statistics after a bulk load: the gateways' "seq > N" must stay an index scan.
    if (counts.added + counts.updated > 0 &&
        !c.command("ANALYZE " + table("api_keys"), "cannot analyze", error)) {
      error = describe() + ": " + error;
      return WriteResult::Error;
    }
    return WriteResult::Ok;
  });
}

}  // namespace portcullis::auth::api_key
