// The local store's state file (see state_file.h).
#include "ratelimit/state_file.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <limits>

namespace portcullis::ratelimit {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS windows (
  key          BLOB PRIMARY KEY NOT NULL,
  window_start INTEGER NOT NULL,
  per_s        INTEGER NOT NULL,
  count        INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// A prepared statement, finalized on every path.
struct Stmt {
  sqlite3_stmt* s = nullptr;
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s, nullptr); }
  ~Stmt() { sqlite3_finalize(s); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
};

bool exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

}  // namespace

std::string StateFile::fail(const std::string& what) const {
  return "rate limit state file " + path_ + ": " + what + ": " + sqlite3_errmsg(db_);
}

bool StateFile::check_location(const std::string& path, std::string& why) {
  const std::string dir = path.substr(0, path.find_last_of('/') + 1);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      why = path + ": not a regular file";
      return false;
    }
    if (::access(path.c_str(), R_OK | W_OK) == 0) return true;
    why = path + ": " + std::strerror(errno);
    return false;
  }
  if (errno != ENOENT) {
    why = path + ": " + std::strerror(errno);
    return false;
  }
  if (::access(dir.empty() ? "." : dir.c_str(), W_OK | X_OK) != 0) {
    why = path + ": folder " + dir + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

std::unique_ptr<StateFile> StateFile::open(const std::string& path, std::string& error) {
  // 0600 from the first byte: client ids and addresses are nobody else's business.
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "rate limit state file " + path + ": cannot open: " + std::strerror(errno);
    return nullptr;
  }
  ::close(fd);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    error = "rate limit state file " + path +
            ": cannot open: " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close_v2(db);
    return nullptr;
  }
  std::unique_ptr<StateFile> file(new StateFile(path, db));
  sqlite3_busy_timeout(db, 2000);
  if (!exec(db, kSchema)) {
    error = file->fail("cannot create its table");
    return nullptr;
  }
  return file;
}

StateFile::~StateFile() {
  sqlite3_close_v2(db_);
}

bool StateFile::load(std::vector<SavedWindow>& out, std::string& error) {
  Stmt st(db_, "SELECT key, window_start, per_s, count FROM windows");
  if (st.s == nullptr) {
    error = fail("cannot read");
    return false;
  }
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    const void* key = sqlite3_column_blob(st.s, 0);
    const int key_len = sqlite3_column_bytes(st.s, 0);
    const std::int64_t per = sqlite3_column_int64(st.s, 2);
    const std::int64_t count = sqlite3_column_int64(st.s, 3);
    // Rows that cannot be a window are skipped, not trusted.
    if (key == nullptr || key_len <= 0 || per <= 0 ||
        per > std::numeric_limits<std::uint32_t>::max() || count <= 0) {
      continue;
    }
    out.push_back({std::string(static_cast<const char*>(key), static_cast<std::size_t>(key_len)),
                   sqlite3_column_int64(st.s, 1), static_cast<std::uint32_t>(per),
                   static_cast<std::uint64_t>(count)});
  }
  if (rc != SQLITE_DONE) {
    error = fail("cannot read");
    return false;
  }
  return true;
}

bool StateFile::save(const std::vector<SavedWindow>& rows, std::string& error) {
  if (!exec(db_, "BEGIN IMMEDIATE")) {
    error = fail("cannot write");
    return false;
  }
  bool ok = exec(db_, "DELETE FROM windows");
  {
    Stmt st(db_, "INSERT INTO windows (key, window_start, per_s, count) VALUES (?, ?, ?, ?)");
    ok = ok && st.s != nullptr;
    for (const auto& row : rows) {
      if (!ok) break;
      sqlite3_bind_blob(st.s, 1, row.key.data(), static_cast<int>(row.key.size()), SQLITE_STATIC);
      sqlite3_bind_int64(st.s, 2, row.start);
      sqlite3_bind_int64(st.s, 3, row.per_s);
      sqlite3_bind_int64(st.s, 4,
                         static_cast<std::int64_t>(std::min<std::uint64_t>(row.count, INT64_MAX)));
      ok = sqlite3_step(st.s) == SQLITE_DONE;
      sqlite3_reset(st.s);
    }
  }
  if (!ok) {
    error = fail("cannot write");
    exec(db_, "ROLLBACK");
    return false;
  }
  if (!exec(db_, "COMMIT")) {
    error = fail("cannot write");
    exec(db_, "ROLLBACK");
    return false;
  }
  return true;
}

}  // namespace portcullis::ratelimit
