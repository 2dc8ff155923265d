// LocalLimiter: the in-process store (the default). Exact for one gateway: every worker asks
// the same table, split into shards with a mutex each; a request's checks lock their shards
// in one order, so "admit only if every check admits, then take one from each" is atomic.
//
// Fixed windows aligned to the Unix epoch (limiter.h). Memory is bounded: a window that has
// ended is dropped by a sweep (every sweep_interval_s on the limiter's own thread; and when
// the table is full, in the shards a request needs, then in all at most once a second), and at most
// `max_keys` (limit, key) pairs are tracked. At the cap a request that needs a new pair is refused
// (fail closed: 429, counted as keys_refused) rather than evicting a live counter, which would let
// the evicted client start over.
//
// Windows of at least persist_min_s are saved to the state file (SQLite, state_file.h) every
// save_interval_s and when the limiter is destroyed, and read back when it is created, so a
// daily quota survives a restart (up to one save interval of counts is lost on a crash).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ratelimit/limiter.h"

namespace portcullis::ratelimit {

class StateFile;

class LocalLimiter final : public Limiter {
 public:
  struct Options {
    std::uint64_t max_keys = 1000000;
    std::string state_file;  // empty: nothing persisted
    std::uint32_t persist_min_s = 3600;
    std::uint32_t save_interval_s = 30;
    std::uint32_t sweep_interval_s = 5;
    bool background = true;  // the sweep/save thread (tests drive sweep() and save() instead)
    std::function<std::int64_t()> now_s;  // Unix seconds; the system clock when empty
  };

  // Opens the state file and reads back the windows that have not ended. Null with `error`
  // when the file cannot be opened or read.
  static std::shared_ptr<LocalLimiter> create(Options options, std::string& error);
  ~LocalLimiter() override;  // stops the thread, then saves
  LocalLimiter(const LocalLimiter&) = delete;
  LocalLimiter& operator=(const LocalLimiter&) = delete;

  // Limiter: answered inline (admit_inline/peek_inline always answer: the request path asks
  // them directly, with no callback and no allocation once its buffers are warm).
  void admit(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) override;
  void peek(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) override;
  void record(Check check) override;
  bool admit_inline(std::span<const Check> checks, std::vector<Outcome>& out) override;
  bool peek_inline(std::span<const Check> checks, std::vector<Outcome>& out) override;

  // The same, returning the answers (tests; a store that falls back to this one).
  std::vector<Outcome> admit_now(const std::vector<Check>& checks);
  std::vector<Outcome> peek_now(const std::vector<Check>& checks);

  // Drops every window that has ended; returns how many.
  std::size_t sweep();
  // Writes the live windows of at least persist_min_s to the state file (none: true).
  bool save(std::string& error);

  std::uint64_t tracked_keys() const { return tracked_.load(std::memory_order_relaxed); }
  // Requests refused (or failures not recorded) because the table was full.
  std::uint64_t keys_refused() const { return keys_refused_.load(std::memory_order_relaxed); }
  const Options& options() const { return options_; }

 private:
  struct Window {
    std::int64_t start = 0;
    std::uint32_t per_s = 0;
    std::uint64_t count = 0;
  };
  // The table's key ("<limit>\x1f<key>") with its hash, computed once per check: the hash
  // picks the shard and finds the window (no second hash, no string made to look it up).
  struct Hashed {
    std::string_view key;
    std::size_t hash = 0;
  };
  struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view k) const;  // local_limiter.cc
    std::size_t operator()(const Hashed& k) const { return k.hash; }
  };
  struct KeyEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
    bool operator()(const Hashed& a, std::string_view b) const { return a.key == b; }
    bool operator()(std::string_view a, const Hashed& b) const { return a == b.key; }
  };
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, Window, KeyHash, KeyEq> windows;
  };
  static constexpr std::size_t kShards = 32;
  struct Scratch;  // one request's keys, shards and windows found (local_limiter.cc)

  explicit LocalLimiter(Options options);
  std::int64_t now() const;
  Shard& shard_of(std::size_t hash) { return shards_[hash % kShards]; }
  Scratch& prepare(std::span<const Check> checks);
  std::size_t sweep_locked(Shard& s, std::int64_t now);
  void admit_into(std::span<const Check> checks, std::vector<Outcome>& out);
  void peek_into(std::span<const Check> checks, std::vector<Outcome>& out);
  bool admit_locked(std::span<const Check> checks, Scratch& s, std::int64_t t, bool last,
                    std::vector<Outcome>& out);
  static std::uint64_t judge(std::span<const Check> checks, Scratch& s, std::int64_t t,
                             std::vector<Outcome>& out);
  void sweep_all_throttled(std::int64_t t);
  bool load(std::string& error);
  void run();

  Options options_;
  std::unique_ptr<Shard[]> shards_;
  std::atomic<std::uint64_t> tracked_{0};
  std::atomic<std::uint64_t> keys_refused_{0};
  std::atomic<std::int64_t> last_full_sweep_{0};
  std::unique_ptr<StateFile> state_;
  std::mutex save_mu_;  // one save at a time
  std::mutex thread_mu_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace portcullis::ratelimit
