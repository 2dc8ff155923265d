// StateFile: where the local store keeps its long windows across restarts, a small SQLite
// file (one table: limit and key, window start and length, count). Written whole in one
// transaction; what is read back is checked (a window must still fit the limiter's rules)
// by the caller. Created 0600: it holds client ids and addresses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct sqlite3;

namespace portcullis::ratelimit {

struct SavedWindow {
  std::string key;  // the limiter's table key: limit name, 0x1F, check key
  std::int64_t start = 0;
  std::uint32_t per_s = 0;
  std::uint64_t count = 0;
};

class StateFile {
 public:
  // Opens (creating when missing) the file; null with `error` when it cannot.
  static std::unique_ptr<StateFile> open(const std::string& path, std::string& error);
  // Whether open() can be expected to succeed, without creating anything (for `check`).
  static bool check_location(const std::string& path, std::string& why);
  ~StateFile();
  StateFile(const StateFile&) = delete;
  StateFile& operator=(const StateFile&) = delete;

  bool load(std::vector<SavedWindow>& out, std::string& error);
  // Replaces the saved windows with `rows`.
  bool save(const std::vector<SavedWindow>& rows, std::string& error);

 private:
  StateFile(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  std::string fail(const std::string& what) const;
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace portcullis::ratelimit
