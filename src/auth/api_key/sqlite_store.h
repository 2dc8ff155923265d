// SqliteKeyStore: the key registry in one SQLite file (WAL mode, so the CLI can write while
// gateways read). The schema is created and migrated here (PRAGMA user_version), by the
// gateway at start and by the CLI, whichever opens the file first.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/api_key/key_store.h"

struct sqlite3;

namespace portcullis::auth::api_key::sqlite_detail {
struct KeyColumns;
}

namespace portcullis::auth::api_key {

class SqliteKeyStore : public KeyStore {
 public:
  static constexpr int kSchemaVersion = 2;  // 2: api_keys.rate_limit

  struct Options {
    // Create the file and the schema when missing. Never done when reopening a store that
    // was replaced while running: an empty store would revoke every key at once.
    bool create = true;
    int busy_timeout_ms = 5000;
  };

  static std::unique_ptr<SqliteKeyStore> open(const std::string& path, const Options& options,
                                              std::string& error);
  // Whether the store at `path` can be opened for writing, without touching it (for `check`):
  // its folder exists and is writable (SQLite creates the file, and in WAL mode the -wal and
  // -shm files, beside it), and the file, when there is one, is a readable and writable
  // regular file. False with `why` ("sqlite:PATH: folder /x: No such file or directory").
  static bool check_location(const std::string& path, std::string& why);
  ~SqliteKeyStore() override;

  std::string describe() const override { return "sqlite:" + path_; }
  // import_keys is in sqlite_import.cc.
#include "auth/api_key/key_store_operations.inc"

 private:
  SqliteKeyStore(std::string path, Options options);
  bool open_db(bool create, std::string& error);
  // Brings the open file's schema to kSchemaVersion in one write transaction (rolled back,
  // with `error`, on failure; the caller then closes).
  bool migrate(std::string& error);
  void close_db();
  // The file is still the one we opened (not deleted, not replaced, still accessible).
  // Reopens a replacement; `replaced` is then set.
  bool check_file(bool& replaced, std::string& error);
  // load_all (no `since`) and changes_since: one read transaction, the rows changed after
  // `since`, or every row when there is none or the store was replaced or restored.
  PollResult read_keys(std::optional<std::int64_t> since, const RowVisitor& visit);
  bool scan(const char* sql, std::int64_t arg, const RowVisitor& visit, std::string& error);
  // The integer a one-row SELECT answers; false with error = fail(what) when unreadable.
  bool read_integer(const char* sql, std::int64_t& out, std::string_view what, std::string& error);
  // max(seq) of the store (0 when empty); inside the caller's read transaction.
  bool read_max_seq(std::int64_t& out, std::string& error) {
    return read_integer("SELECT coalesce(max(seq), 0) FROM api_keys", out, "cannot read keys",
                        error);
  }
  // The seq of the next change; inside the caller's write transaction.
  bool next_seq(std::int64_t& seq, std::string& error) {
    return read_integer("SELECT coalesce(max(seq), 0) + 1 FROM api_keys", seq, "cannot read seq",
                        error);
  }
  bool insert(const NewKey& key, std::int64_t seq, WriteResult& result, std::string& error);
  // Runs `sql` (an INSERT of PC_KEY_VALUES, sqlite_statement.h) with `row`; false with
  // error = fail(what) and the step's result in `rc` when it did not complete.
  bool write_row(const char* sql, const sqlite_detail::KeyColumns& row, std::string_view what,
                 int& rc, std::string& error);
  // Runs `sql` (?1 the new value, ?2 the next seq, ?3 the key id) in the caller's write
  // transaction: set_status and update.
  WriteResult change_key(const char* sql, std::string_view value, std::string_view id,
                         std::string& error);
  // import_keys' steps (sqlite_import.cc).
  bool read_record(std::string_view id, std::optional<KeyRecord>& out, std::string& error);
  bool write_record(const KeyRecord& r, std::int64_t seq, std::string& error);
  std::string fail(std::string_view what) const;
  // The stored pepper fingerprint's bytes, none when no pepper was bound yet; under mu_.
  bool read_pepper_row(std::optional<std::string>& value, std::string& error);
  // The write operations' frame: under the lock, the store open, `body` in a write
  // transaction, committed when it answers Ok (else rolled back).
  WriteResult in_write_transaction(std::string_view commit_error, std::string& error,
                                   const std::function<WriteResult()>& body);

  std::string path_;
  Options options_;
  sqlite3* db_ = nullptr;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
  std::mutex mu_;
};

}  // namespace portcullis::auth::api_key
