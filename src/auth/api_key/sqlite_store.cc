#include "auth/api_key/sqlite_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "auth/api_key/sqlite_statement.h"
#include "config/read_file.h"

namespace portcullis::auth::api_key {
namespace {

using sqlite_detail::bind_key_columns;
using sqlite_detail::each_key_row;
using sqlite_detail::key_columns;
using sqlite_detail::Stmt;
using sqlite_detail::Txn;

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY NOT NULL,
  secret_hmac  BLOB NOT NULL CHECK (length(secret_hmac) = 32),
  client_id    TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  scopes       TEXT NOT NULL DEFAULT '',
  routes       TEXT NOT NULL DEFAULT '',
  cidrs        TEXT NOT NULL DEFAULT '',
  label        TEXT NOT NULL DEFAULT '',
  last_used_at INTEGER,
  seq          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_seq ON api_keys (seq);
CREATE INDEX api_keys_client ON api_keys (client_id);
CREATE TABLE portcullis_meta (
  name  TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
) WITHOUT ROWID;
)sql";

// Version 2 (issue 13): a key's own rate plan, "1000/1m"; '' for none.
constexpr const char* kSchemaV2 =
    "ALTER TABLE api_keys ADD COLUMN rate_limit TEXT NOT NULL DEFAULT ''";

}  // namespace

SqliteKeyStore::SqliteKeyStore(std::string path, Options options)
    : path_(std::move(path)), options_(options) {}

SqliteKeyStore::~SqliteKeyStore() {
  close_db();
}

std::string SqliteKeyStore::fail(std::string_view what) const {
  std::string msg = describe() + ": " + std::string(what);
  if (db_ != nullptr) msg += ": " + std::string(sqlite3_errmsg(db_));
  return msg;
}

void SqliteKeyStore::close_db() {
  if (db_ != nullptr) sqlite3_close_v2(db_);
  db_ = nullptr;
}

bool SqliteKeyStore::check_location(const std::string& path, std::string& why) {
  const std::string what = "sqlite:" + path + ": ";
  if (!config::folder_writable(path, why)) {
    why = what + why;
    return false;
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;  // created on open
    why = what + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    why = what + "not a regular file";
    return false;
  }
  if (::access(path.c_str(), R_OK | W_OK) == 0) return true;
  why = what + std::strerror(errno);
  return false;
}

std::unique_ptr<SqliteKeyStore> SqliteKeyStore::open(const std::string& path,
                                                     const Options& options, std::string& error) {
  if (!check_location(path, error)) return nullptr;
  std::unique_ptr<SqliteKeyStore> store(new SqliteKeyStore(path, options));
  if (!store->open_db(options.create, error)) return nullptr;
  return store;
}

bool SqliteKeyStore::open_db(bool create, std::string& error) {
  close_db();
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno != ENOENT || !create) {
      error = describe() + ": " + std::strerror(errno);
      return false;
    }
    // Key hashes and client names are nobody else's business: 0600 from the first byte
    // (SQLite gives the -wal and -shm files the same mode).
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) {
      error = describe() + ": cannot create: " + std::strerror(errno);
      return false;
    }
    if (fd >= 0) ::close(fd);
  }
  if (::access(path_.c_str(), R_OK | W_OK) != 0) {
    error = describe() + ": " + std::strerror(errno);
    return false;
  }
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path_.c_str(), &db_, flags, nullptr) != SQLITE_OK) {
    error = fail("cannot open");
    close_db();
    return false;
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);

  auto exec = [&](const char* sql, const char* what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return true;
    error = fail(what);
    close_db();
    return false;
  };
  std::int64_t version = 0;
  {
    Stmt s(db_, "PRAGMA user_version");
    if (!s || s.step() != SQLITE_ROW) {
      // "file is not a database" shows up here.
      error = fail("cannot read");
      close_db();
      return false;
    }
    version = s.integer(0);
  }
  if (version > kSchemaVersion) {
    error = describe() + ": schema version " + std::to_string(version) +
            " is newer than this portcullis supports (" + std::to_string(kSchemaVersion) + ")";
    close_db();
    return false;
  }
  if (version == 0 && !create) {
    error = describe() + ": not a portcullis key store (no schema)";
    close_db();
    return false;
  }
  if (!exec("PRAGMA journal_mode = WAL", "cannot switch to WAL mode")) return false;
  if (version < kSchemaVersion && !migrate(error)) {
    close_db();  // after migrate()'s transaction has rolled back
    return false;
  }
  struct stat st2 {};
  if (::stat(path_.c_str(), &st2) != 0) {
    error = describe() + ": " + std::strerror(errno);
    close_db();
    return false;
  }
  dev_ = st2.st_dev;
  ino_ = st2.st_ino;
  return true;
}

bool SqliteKeyStore::migrate(std::string& error) {
  Txn txn(db_, true);
  if (!txn.ok()) {
    error = fail("cannot start the schema migration");
    return false;
  }
  auto exec = [&](const char* sql, const char* what) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK) return true;
    error = fail(what);
    return false;
  };
  // Another process may have migrated while we waited for the write lock.
  std::int64_t version = -1;
  {
    Stmt s(db_, "PRAGMA user_version");
    if (s && s.step() == SQLITE_ROW) version = s.integer(0);
  }  // finalised: no statement open while the schema changes
  if (version == 0) {
    if (!exec(kSchemaV1, "cannot create the schema")) return false;
    if (!exec("PRAGMA user_version = 1", "cannot set the schema version")) return false;
    version = 1;
  }
  // Each step upgrades the file in place, in this one transaction.
  if (version == 1) {
    if (!exec(kSchemaV2, "cannot add the rate_limit column")) return false;
    if (!exec("PRAGMA user_version = 2", "cannot set the schema version")) return false;
  }
  // Later migrations: if (version == 2) { ALTER ...; PRAGMA user_version = 3; }
  if (!txn.commit()) {
    error = fail("cannot commit the schema migration");
    return false;
  }
  return true;
}

bool SqliteKeyStore::check_file(bool& replaced, std::string& error) {
  replaced = false;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    // An open connection would go on reading a deleted file; a store that is gone is an
    // error even though the old data is still readable.
    error = describe() + ": " + std::strerror(errno);
    return false;
  }
  if (::access(path_.c_str(), R_OK | W_OK) != 0) {
    error = describe() + ": " + std::strerror(errno);
    return false;
  }
  if (db_ == nullptr || st.st_dev != dev_ || st.st_ino != ino_) {
    if (!open_db(false, error)) return false;
    replaced = true;
  }
  return true;
}

bool SqliteKeyStore::bind_pepper(const Digest& fingerprint, std::string& error) {
  std::lock_guard lock(mu_);
  if (db_ == nullptr) {
    error = describe() + ": not open";
    return false;
  }
  Txn txn(db_, true);
  if (!txn.ok()) {
    error = fail("cannot start a transaction");
    return false;
  }
  std::optional<std::string> stored;
  if (!read_pepper_row(stored, error)) return false;
  if (stored) {
    if (digest_equal(fingerprint, *stored)) return true;
    error = describe() +
            ": the pepper differs from the one this key store was created with (changing the "
            "pepper is not supported: every key would stop working)";
    return false;
  }
  Stmt ins(db_, "INSERT INTO portcullis_meta (name, value) VALUES ('pepper_fingerprint', ?1)");
  if (ins) ins.bind_blob(1, fingerprint.data(), fingerprint.size());
  if (!ins || ins.step() != SQLITE_DONE || !txn.commit()) {
    error = fail("cannot store the pepper fingerprint");
    return false;
  }
  return true;
}

bool SqliteKeyStore::read_pepper_row(std::optional<std::string>& value, std::string& error) {
  value.reset();
  Stmt sel(db_, "SELECT value FROM portcullis_meta WHERE name = 'pepper_fingerprint'");
  const int rc = sel ? sel.step() : SQLITE_ERROR;
  if (rc == SQLITE_ROW) value.emplace(sel.blob(0));
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return true;
  error = fail("cannot read the pepper fingerprint");
  return false;
}

bool SqliteKeyStore::scan(const char* sql, std::int64_t arg, const RowVisitor& visit,
                          std::string& error) {
  Stmt s(db_, sql);
  if (sqlite3_bind_parameter_count(s.get()) > 0) s.bind(1, arg);
  if (each_key_row(s, visit)) return true;
  error = fail(s ? "cannot read keys" : "cannot query keys");
  return false;
}

bool SqliteKeyStore::read_integer(const char* sql, std::int64_t& out, std::string_view what,
                                  std::string& error) {
  Stmt s(db_, sql);
  if (!s || s.step() != SQLITE_ROW) {
    error = fail(what);
    return false;
  }
  out = s.integer(0);
  return true;
}

PollResult SqliteKeyStore::load_all(const RowVisitor& visit) {
  return read_keys(std::nullopt, visit);
}

PollResult SqliteKeyStore::changes_since(std::int64_t seq, const RowVisitor& visit) {
  return read_keys(seq, visit);
}

PollResult SqliteKeyStore::read_keys(std::optional<std::int64_t> since, const RowVisitor& visit) {
  std::lock_guard lock(mu_);
  PollResult r;
  bool replaced = false;
  if (db_ == nullptr && !since) {
    if (!open_db(false, r.error)) return r;  // the first load
  } else if (!check_file(replaced, r.error)) {
    // The file the connection has open may have been deleted or replaced since: the path is
    // what counts (a whole read follows a failed one too).
    return r;
  }
  Txn txn(db_, false);
  if (!txn.ok()) {
    r.error = fail("cannot start a read transaction");
    return r;
  }
  if (!read_max_seq(r.max_seq, r.error)) return r;
  // A store restored from an older copy in place has gone back in seq: read it whole.
  r.reset = !since || replaced || r.max_seq < *since;
  const char* sql = r.reset ? PC_KEY_SELECT : PC_KEY_SELECT " WHERE seq > ?1 ORDER BY seq";
  if (r.reset || r.max_seq > *since) {
    if (!scan(sql, since.value_or(0), visit, r.error)) return r;
  }
  txn.commit();
  r.ok = true;
  return r;
}

bool SqliteKeyStore::record_usage(const std::vector<std::string>& ids, std::int64_t when,
                                  std::string& error) {
  std::lock_guard lock(mu_);
  bool replaced = false;
  if (!check_file(replaced, error)) return false;
  Txn txn(db_, true);
  if (!txn.ok()) {
    error = fail("cannot start a write transaction");
    return false;
  }
  Stmt s(db_,
         "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2 AND "
         "(last_used_at IS NULL OR last_used_at < ?1)");
  for (const auto& id : ids) {
    if (!s.run(when, std::string_view(id))) {
      error = fail("cannot record key usage");
      return false;
    }
  }
  if (!txn.commit()) {
    error = fail("cannot commit key usage");
    return false;
  }
  return true;
}

bool SqliteKeyStore::list(std::optional<std::string_view> client, std::vector<KeyInfo>& out,
                          std::string& error) {
  std::lock_guard lock(mu_);
  if (db_ == nullptr) {
    error = describe() + ": not open";
    return false;
  }
  Stmt s(db_, client ? PC_KEY_SELECT " WHERE client_id = ?1 ORDER BY created_at, seq, id"
                     : PC_KEY_SELECT " ORDER BY client_id, created_at, seq, id");
  if (client) s.bind(1, *client);
  if (each_key_row(s, [&](const KeyRow& row) { out.push_back(KeyInfo::from(row)); })) return true;
  error = fail("cannot list keys");
  return false;
}

bool SqliteKeyStore::get(std::string_view id, std::optional<KeyInfo>& out, std::string& error) {
  std::lock_guard lock(mu_);
  out.reset();
  if (db_ == nullptr) {
    error = describe() + ": not open";
    return false;
  }
  Stmt s(db_, PC_KEY_SELECT " WHERE id = ?1");
  s.bind(1, id);  // the primary key: one row at most
  if (each_key_row(s, [&](const KeyRow& row) { out = KeyInfo::from(row); })) return true;
  error = fail("cannot read key");
  return false;
}

bool SqliteKeyStore::insert(const NewKey& key, std::int64_t seq, WriteResult& result,
                            std::string& error) {
  const auto* hmac = reinterpret_cast<const char*>(key.secret_hmac.data());
  const std::string_view secret_hmac(hmac, key.secret_hmac.size());
  int rc = SQLITE_OK;
  if (write_row("INSERT" PC_KEY_VALUES,
                key_columns(key, secret_hmac, KeyStatus::Active, std::nullopt, seq),
                "cannot insert key", rc, error)) {
    return true;
  }
  result = WriteResult::Error;
  if (rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
    error = describe() + ": key id " + key.id + " exists already";
    result = WriteResult::Conflict;
  }
  return false;
}

bool SqliteKeyStore::write_row(const char* sql, const sqlite_detail::KeyColumns& row,
                               std::string_view what, int& rc, std::string& error) {
  Stmt s(db_, sql);
  rc = SQLITE_ERROR;
  if (s) {
    bind_key_columns(s, row);
    rc = s.step();
  }
  if (rc == SQLITE_DONE) return true;
  error = fail(what);
  return false;
}

WriteResult SqliteKeyStore::in_write_transaction(std::string_view commit_error, std::string& error,
                                                 const std::function<WriteResult()>& body) {
  std::lock_guard lock(mu_);
  if (db_ == nullptr) {
    error = describe() + ": not open";
    return WriteResult::Error;
  }
  Txn txn(db_, true);
  if (!txn.ok()) {
    error = fail("cannot start a write transaction");
    return WriteResult::Error;
  }
  const WriteResult result = body();
  if (result != WriteResult::Ok) return result;  // rolled back
  if (!txn.commit()) {
    error = fail(commit_error);
    return WriteResult::Error;
  }
  return WriteResult::Ok;
}

WriteResult SqliteKeyStore::change_key(const char* sql, std::string_view value, std::string_view id,
                                       std::string& error) {
  std::int64_t seq = 0;
  if (!next_seq(seq, error)) return WriteResult::Error;
  if (Stmt(db_, sql).run(value, seq, id)) return WriteResult::Ok;
  error = fail("cannot update key");
  return WriteResult::Error;
}

WriteResult SqliteKeyStore::create(const NewKey& key, std::string& error) {
  return in_write_transaction("cannot commit", error, [&] {
    std::int64_t seq = 0;
    if (!next_seq(seq, error)) return WriteResult::Error;
    WriteResult result = WriteResult::Ok;
    insert(key, seq, result, error);
    return result;
  });
}

WriteResult SqliteKeyStore::set_status(std::string_view id, KeyStatus status, std::string& error) {
  return in_write_transaction("cannot update key", error, [&] {
    Stmt sel(db_, "SELECT status FROM api_keys WHERE id = ?1");
    if (!sel) {
      error = fail("cannot read key");
      return WriteResult::Error;
    }
    sel.bind(1, id);
    int rc = sel.step();
    if (rc == SQLITE_DONE) {
      error = "no key with id " + std::string(id);
      return WriteResult::NotFound;
    }
    if (rc != SQLITE_ROW) {
      error = fail("cannot read key");
      return WriteResult::Error;
    }
    auto current = parse_status(sel.text(0)).value_or(KeyStatus::Revoked);
    if (current == KeyStatus::Revoked && status != KeyStatus::Revoked) {
      error = "key " + std::string(id) + " is revoked; revocation is final (create a new key)";
      return WriteResult::Refused;
    }
    if (current == status) return WriteResult::Ok;
    return change_key("UPDATE api_keys SET status = ?1, seq = ?2 WHERE id = ?3", to_string(status),
                      id, error);
  });
}

WriteResult SqliteKeyStore::update(std::string_view id, const KeyUpdate& change,
                                   std::string& error) {
  return in_write_transaction("cannot update key", error, [&] {
    std::optional<KeyRecord> current;
    if (!read_record(id, current, error)) return WriteResult::Error;
    bool changes = false;
    const std::optional<KeyInfo> info =
        current ? std::optional<KeyInfo>(current->info) : std::nullopt;
    if (auto r = check_update(info, id, change, changes, error); r != WriteResult::Ok || !changes) {
      return r;
    }
    return change_key("UPDATE api_keys SET rate_limit = ?1, seq = ?2 WHERE id = ?3",
                      *change.rate_limit, id, error);
  });
}

WriteResult SqliteKeyStore::rotate(std::string_view client, std::int64_t now,
                                   std::int64_t grace_seconds,
                                   const std::function<NewKey(const KeyInfo&)>& make_new,
                                   RotationPlan& plan, std::string& error) {
  return in_write_transaction("cannot commit", error, [&] {
    std::vector<KeyInfo> keys;
    {
      Stmt s(db_, PC_KEY_SELECT " WHERE client_id = ?1");
      s.bind(1, client);
      if (!each_key_row(s, [&](const KeyRow& row) { keys.push_back(KeyInfo::from(row)); })) {
        error = fail("cannot read keys");
        return WriteResult::Error;
      }
    }
    plan = plan_rotation(keys, now, grace_seconds);
    if (!plan.ok) {
      error = "client " + std::string(client) + " " + plan.error;
      return WriteResult::Refused;
    }
    std::int64_t seq = 0;
    if (!next_seq(seq, error)) return WriteResult::Error;
    // The new key and the expiries share one seq: a reader sees all of them or none.
    Stmt upd(db_, "UPDATE api_keys SET expires_at = ?1, seq = ?2 WHERE id = ?3");
    for (const auto& [id, until] : plan.expire) {
      if (!upd.run(until, seq, std::string_view(id))) {
        error = fail("cannot update keys");
        return WriteResult::Error;
      }
    }
    WriteResult result = WriteResult::Ok;
    insert(make_new(plan.template_key), seq, result, error);
    return result;
  });
}

}  // namespace portcullis::auth::api_key
