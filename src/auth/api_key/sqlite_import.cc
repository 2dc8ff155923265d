// SqliteKeyStore's side of `keys copy`: the pepper fingerprint it is bound to, and keys
// imported with their hashes and settings (plan_import decides, one transaction writes).
#include <sqlite3.h>

#include <algorithm>

#include "auth/api_key/sqlite_statement.h"
#include "auth/api_key/sqlite_store.h"

namespace portcullis::auth::api_key {

using sqlite_detail::each_key_row;
using sqlite_detail::key_columns;
using sqlite_detail::Stmt;

bool SqliteKeyStore::pepper_fingerprint(std::optional<Digest>& out, std::string& error) {
  std::lock_guard lock(mu_);
  out.reset();
  if (db_ == nullptr) {
    error = describe() + ": not open";
    return false;
  }
  std::optional<std::string> value;
  if (!read_pepper_row(value, error)) return false;
  if (!value) return true;
  if (value->size() != Digest().size()) {
    error = fail("cannot read the pepper fingerprint");
    return false;
  }
  Digest d;
  std::copy(value->begin(), value->end(), d.begin());
  out = d;
  return true;
}

bool SqliteKeyStore::read_record(std::string_view id, std::optional<KeyRecord>& out,
                                 std::string& error) {
  out.reset();
  Stmt s(db_, PC_KEY_SELECT " WHERE id = ?1");
  s.bind(1, id);
  if (each_key_row(s, [&](const KeyRow& row) { out = KeyRecord::from(row); })) return true;
  error = fail("cannot read key");
  return false;
}

bool SqliteKeyStore::write_record(const KeyRecord& r, std::int64_t seq, std::string& error) {
  const KeyInfo& k = r.info;
  int rc = SQLITE_OK;
  return write_row("INSERT OR REPLACE" PC_KEY_VALUES,
                   key_columns(k, r.secret_hmac, k.status, k.last_used_at, seq), "cannot write key",
                   rc, error);
}

WriteResult SqliteKeyStore::import_keys(const std::vector<KeyRecord>& records, ImportCounts& counts,
                                        std::string& error) {
  return in_write_transaction("cannot commit", error, [&] {
    std::int64_t seq = 0;
    if (!next_seq(seq, error)) return WriteResult::Error;
    for (const auto& incoming : records) {
      std::optional<KeyRecord> existing;
      if (!read_record(incoming.info.id, existing, error)) return WriteResult::Error;
      KeyRecord write;
      const ImportAction action = plan_import(existing, incoming, write);
      counts.count(action, incoming.info.id);
      if (action != ImportAction::Insert && action != ImportAction::Update) continue;
      if (!write_record(write, seq, error)) return WriteResult::Error;
    }
    return WriteResult::Ok;
  });
}

}  // namespace portcullis::auth::api_key
