// KeyRegistry: one key store as the gateway sees it. Loads every key at start, then a
// background thread asks the store every poll interval for what changed (so a key created,
// disabled or revoked with the CLI counts within about one interval), and at once when the
// store says it changed (KeyStore::watch: PostgreSQL notifications). It writes the
// last_used_at of keys that authenticated, batched, off the request path; a batch the store
// cannot take is dropped and counted (portcullis_api_key_usage_dropped_total), never queued.
//
// When the store cannot be read, the last good view stays in use; the error is logged once
// per change of state and then every minute with the view's age, and counted
// (portcullis_api_key_store_errors_total, portcullis_api_key_store_up,
// portcullis_api_key_store_staleness_seconds).
//
// With Options::load_in_background (a database server, at start-up) the registry starts
// empty and not loaded(): the poller binds the pepper and loads the store as soon as it can,
// and until then the mechanism answers 503 and /readyz is not ready.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <unordered_set>

#include "auth/api_key/key_store.h"
#include "auth/api_key/key_table.h"
#include "auth/api_key/secret_hash.h"
#include "auth/credential_memo.h"

namespace portcullis::auth::api_key {

class KeyRegistry {
 public:
  struct Options {
    std::chrono::milliseconds poll_interval{1000};
    std::chrono::milliseconds usage_flush_interval{5000};
    // How often the whole store is read again, whatever the change counter says: the bound
    // on a change lost to a restore that raced it (key_store.h, PollResult::reset).
    std::chrono::milliseconds full_reload_interval{600000};
    bool background = true;           // false: the caller drives poll_once() (tests)
    bool load_in_background = false;  // create() does not read the store; the poller loads it
  };

  // Loads the whole store (and binds the pepper to it). Null with `error` set when the
  // store cannot be read at all: there is no last good view to fall back on.
  static std::shared_ptr<KeyRegistry> create(std::unique_ptr<KeyStore> store,
                                             std::string_view pepper, const Options& options,
                                             std::string& error);
  ~KeyRegistry();
  KeyRegistry(const KeyRegistry&) = delete;
  KeyRegistry& operator=(const KeyRegistry&) = delete;

  bool find(std::string_view id, KeyEntry& out) const { return table_.find(id, out); }
  const SecretHasher& hasher() const { return *hasher_; }
  // The CredentialMemo owner for keys checked against this registry (its pepper and view).
  std::uint64_t memo_owner() const { return memo_owner_; }
  std::size_t size() const { return table_.size(); }
  bool store_ok() const { return store_ok_.load(std::memory_order_relaxed); }
  // The whole store has been read once: until then no key can be decided.
  bool loaded() const { return loaded_.load(std::memory_order_acquire); }
  // Seconds since the view last matched the store (since creation when never loaded).
  double staleness_seconds() const;

  // Remembers that a key authenticated; written to the store by the poller.
  void note_used(std::string_view id);

  void set_poll_interval(std::chrono::milliseconds interval);

  // One poll: apply the store's changes (or load it whole, when not loaded yet). False when
  // the store could not be read.
  bool poll_once();
  // Writes the remembered usage now. False when the store could not be written.
  bool flush_usage();

 private:
  const std::uint64_t memo_owner_ = next_memo_owner();
  KeyRegistry(std::unique_ptr<KeyStore> store, std::unique_ptr<SecretHasher> hasher,
              const Digest& fingerprint, const Options& options);
  struct Applied {
    std::size_t changed = 0, bad_rows = 0, bad_cidrs = 0, bad_plans = 0;
    std::string first_bad, first_bad_plan;
  };
  RowVisitor visitor(std::uint32_t stamp, Applied& a);
  void report(const Applied& a);
  bool initial_load(std::string& error);
  // Under poll_mu_: bind the pepper (once) and read the whole store.
  bool load_locked(std::string& error);
  void run(std::stop_token stop);
  void wake();
  void store_failed(const std::string& error);
  void store_succeeded();

  std::unique_ptr<KeyStore> store_;
  std::unique_ptr<SecretHasher> hasher_;
  const Digest fingerprint_;
  Options options_;
  KeyTable table_;

  // Poller state (the poller thread, or the caller of poll_once).
  std::mutex poll_mu_;
  std::int64_t last_seq_ = 0;
  std::uint32_t stamp_ = 0;
  bool force_reload_ = false;
  std::chrono::steady_clock::time_point last_full_ = std::chrono::steady_clock::now();
  bool pepper_bound_ = false;
  std::chrono::steady_clock::time_point last_failure_log_{};
  std::atomic<bool> store_ok_{true};
  std::atomic<bool> loaded_{false};
  const std::chrono::steady_clock::time_point created_ = std::chrono::steady_clock::now();
  std::atomic<std::int64_t> last_success_ns_{0};  // steady clock; 0: never
  std::atomic<std::int64_t> poll_interval_ms_{1000};

  const std::uint64_t id_;  // never reused: tags this registry in thread-local caches
  std::atomic<std::uint64_t> usage_epoch_{1};  // bumped by every usage write
  std::mutex usage_mu_;
  std::unordered_set<std::string> used_;
  std::atomic<std::uint64_t> usage_overflow_{0};  // ids not remembered: the batch was full

  std::mutex wake_mu_;
  bool wake_pending_ = false;  // under wake_mu_
  std::condition_variable_any wake_;
  std::jthread thread_;
};

}  // namespace portcullis::auth::api_key
