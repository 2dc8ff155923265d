// The SQLite store's statement helpers, shared by sqlite_store.cc and sqlite_import.cc only:
// a prepared statement and a transaction that clean up on scope exit, the key row reader and
// the one writer of a key row's columns.
#pragma once

#include <sqlite3.h>

#include <optional>
#include <string>
#include <string_view>

#include "auth/api_key/key_store.h"

namespace portcullis::auth::api_key::sqlite_detail {

// String literals, concatenated at compile time (GCC 12 warns about std::string + literal).
// The key columns in the order read_row and bind_key_columns use them.
#define PC_KEY_COLUMNS                                                                  \
  "id, secret_hmac, client_id, status, created_at, expires_at, scopes, routes, cidrs, " \
  "label, last_used_at, seq, rate_limit"
#define PC_KEY_SELECT "SELECT " PC_KEY_COLUMNS " FROM api_keys"
// Followed by bind_key_columns; "INSERT" refuses an existing id, "INSERT OR REPLACE" takes it.
#define PC_KEY_VALUES               \
  " INTO api_keys (" PC_KEY_COLUMNS \
  ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"

// A prepared statement, finalised on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) {
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size()), &stmt_, nullptr) !=
        SQLITE_OK) {
      stmt_ = nullptr;
    }
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  explicit operator bool() const { return stmt_ != nullptr; }
  sqlite3_stmt* get() const { return stmt_; }

  void bind(int i, std::int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_blob(int i, const void* p, std::size_t n) {
    sqlite3_bind_blob(stmt_, i, p, static_cast<int>(n), SQLITE_TRANSIENT);
  }
  void bind(int i, std::optional<std::int64_t> v) {
    if (v) {
      bind(i, *v);
    } else {
      sqlite3_bind_null(stmt_, i);
    }
  }
  int step() { return sqlite3_step(stmt_); }
  // Binds ?1..?N to `args` in order and steps once; true when the statement ran to its end
  // (it is then reset for the next run). False when it could not be prepared or the step
  // failed (sqlite3_errmsg says why).
  template <class... Args>
  bool run(const Args&... args) {
    if (stmt_ == nullptr) return false;
    int i = 0;
    (bind(++i, args), ...);
    if (step() != SQLITE_DONE) return false;
    reset();
    return true;
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string_view text(int col) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  std::string_view blob(int col) const {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  std::optional<std::int64_t> optional_integer(int col) const {
    if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
    return integer(col);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

inline KeyRow read_row(const Stmt& s) {
  KeyRow r;
  r.id = s.text(0);
  r.secret_hmac = s.blob(1);
  r.client_id = s.text(2);
  // A status this version does not know fails closed.
  r.status = parse_status(s.text(3)).value_or(KeyStatus::Revoked);
  r.created_at = s.integer(4);
  r.expires_at = s.optional_integer(5);
  r.scopes = s.text(6);
  r.routes = s.text(7);
  r.cidrs = s.text(8);
  r.label = s.text(9);
  r.last_used_at = s.optional_integer(10);
  r.seq = s.integer(11);
  r.rate_limit = s.text(12);
  return r;
}

// What one key row holds, to be written (from a NewKey or a KeyRecord).
struct KeyColumns {
  std::string_view id, secret_hmac, client_id;
  KeyStatus status = KeyStatus::Active;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::string_view scopes, routes, cidrs, label;
  std::optional<std::int64_t> last_used_at;
  std::int64_t seq = 0;
  std::string_view rate_limit;
};

// The row of a NewKey or a KeyInfo (they name the fields they share alike); what only one
// of them holds is given.
template <class Key>
KeyColumns key_columns(const Key& k, std::string_view secret_hmac, KeyStatus status,
                       std::optional<std::int64_t> last_used_at, std::int64_t seq) {
  return {.id = k.id,
          .secret_hmac = secret_hmac,
          .client_id = k.client_id,
          .status = status,
          .created_at = k.created_at,
          .expires_at = k.expires_at,
          .scopes = k.scopes,
          .routes = k.routes,
          .cidrs = k.cidrs,
          .label = k.label,
          .last_used_at = last_used_at,
          .seq = seq,
          .rate_limit = k.rate_limit};
}

// Binds ?1..?13 of a PC_KEY_VALUES statement.
inline void bind_key_columns(Stmt& s, const KeyColumns& k) {
  s.bind(1, k.id);
  s.bind_blob(2, k.secret_hmac.data(), k.secret_hmac.size());
  s.bind(3, k.client_id);
  s.bind(4, to_string(k.status));
  s.bind(5, k.created_at);
  s.bind(6, k.expires_at);
  s.bind(7, k.scopes);
  s.bind(8, k.routes);
  s.bind(9, k.cidrs);
  s.bind(10, k.label);
  s.bind(11, k.last_used_at);
  s.bind(12, k.seq);
  s.bind(13, k.rate_limit);
}

// Steps a prepared (and bound) SELECT of key rows to its end, each row to `visit`. False when
// the statement could not be prepared or a step failed.
inline bool each_key_row(Stmt& s, const RowVisitor& visit) {
  if (!s) return false;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) visit(read_row(s));
  return rc == SQLITE_DONE;
}

// A transaction rolled back unless committed.
class Txn {
 public:
  Txn(sqlite3* db, bool write) : db_(db) {
    ok_ = sqlite3_exec(db, write ? "BEGIN IMMEDIATE" : "BEGIN", nullptr, nullptr, nullptr) ==
          SQLITE_OK;
  }
  ~Txn() {
    if (ok_ && !done_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool ok() const { return ok_; }
  bool commit() {
    done_ = true;
    return sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
  }

 private:
  sqlite3* db_;
  bool ok_ = false;
  bool done_ = false;
};

}  // namespace portcullis::auth::api_key::sqlite_detail
