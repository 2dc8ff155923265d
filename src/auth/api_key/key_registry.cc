#include "auth/api_key/key_registry.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "observe/metrics.h"

namespace portcullis::auth::api_key {
namespace {

std::atomic<std::uint64_t> g_next_registry_id{1};

constexpr std::string_view kStoreUp = "portcullis_api_key_store_up";
constexpr std::string_view kStoreErrors = "portcullis_api_key_store_errors_total";
constexpr std::string_view kKeysLoaded = "portcullis_api_keys_loaded";
constexpr std::string_view kLastSuccess = "portcullis_api_key_store_last_success_timestamp_seconds";
constexpr std::string_view kStaleness = "portcullis_api_key_store_staleness_seconds";
constexpr std::string_view kUsageDropped = "portcullis_api_key_usage_dropped_total";
// While the store stays unreadable, the log says again how old the view is this often.
constexpr auto kStaleLogEvery = std::chrono::seconds(60);
// Usage of more keys than this between two writes is dropped rather than held.
constexpr std::size_t kMaxPendingUsage = 1'000'000;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

KeyRegistry::KeyRegistry(std::unique_ptr<KeyStore> store, std::unique_ptr<SecretHasher> hasher,
                         const Digest& fingerprint, const Options& options)
    : store_(std::move(store)),
      hasher_(std::move(hasher)),
      fingerprint_(fingerprint),
      options_(options),
      id_(g_next_registry_id.fetch_add(1)) {
  poll_interval_ms_ = options.poll_interval.count();
}

std::shared_ptr<KeyRegistry> KeyRegistry::create(std::unique_ptr<KeyStore> store,
                                                 std::string_view pepper, const Options& options,
                                                 std::string& error) {
  auto hasher = SecretHasher::create(pepper, error);
  if (!hasher) return nullptr;
  Digest fingerprint;
  if (!hasher->fingerprint(fingerprint)) {
    error = "cannot compute the pepper fingerprint";
    return nullptr;
  }
  std::shared_ptr<KeyRegistry> r(
      new KeyRegistry(std::move(store), std::move(hasher), fingerprint, options));
  if (!options.load_in_background && !r->initial_load(error)) return nullptr;
  auto& m = observe::Metrics::global();
  m.add(kStoreErrors, {}, 0);  // the series exist before any error
  m.add(kUsageDropped, {}, 0);
  m.add_live_gauge(std::weak_ptr<const void>(r), kStaleness, {},
                   [raw = r.get()]() -> std::optional<double> { return raw->staleness_seconds(); });
  if (options.background) {
    r->store_->watch([raw = r.get()] { raw->wake(); });
    r->thread_ = std::jthread([raw = r.get()](std::stop_token stop) { raw->run(stop); });
  }
  return r;
}

KeyRegistry::~KeyRegistry() {
  store_->unwatch();  // no wake() from the store's thread from here on
  if (thread_.joinable()) {
    thread_.request_stop();
    wake_.notify_all();
    thread_.join();
  }
}

RowVisitor KeyRegistry::visitor(std::uint32_t stamp, Applied& a) {
  return [this, stamp, &a](const KeyRow& row) {
    ++a.changed;
    switch (table_.upsert(row, stamp)) {
      case KeyTable::Upsert::Stored:
        break;
      case KeyTable::Upsert::BadRow:
        if (a.bad_rows++ == 0) a.first_bad = std::string(row.id.substr(0, kIdLength));
        break;
      case KeyTable::Upsert::BadCidrs:
        if (a.bad_cidrs++ == 0) a.first_bad = std::string(row.id);
        break;
      case KeyTable::Upsert::BadPlan:
        if (a.bad_plans++ == 0) a.first_bad_plan = std::string(row.id);
        break;
    }
  };
}

void KeyRegistry::report(const Applied& a) {
  if (a.bad_rows > 0) {
    spdlog::warn("api keys: {} stored keys are unusable (bad id or hash), e.g. '{}'", a.bad_rows,
                 a.first_bad);
  }
  if (a.bad_cidrs > 0) {
    spdlog::warn("api keys: {} keys have unreadable CIDR lists and allow no source, e.g. {}",
                 a.bad_cidrs, a.first_bad);
  }
  if (a.bad_plans > 0) {
    spdlog::warn(
        "api keys: {} keys have unreadable rate plans and do not authenticate, e.g. {} (set "
        "one with `keys update ID --rate-limit N/1m`)",
        a.bad_plans, a.first_bad_plan);
  }
}

bool KeyRegistry::initial_load(std::string& error) {
  std::lock_guard lock(poll_mu_);
  return load_locked(error);
}

bool KeyRegistry::load_locked(std::string& error) {
  if (!pepper_bound_ && !store_->bind_pepper(fingerprint_, error)) return false;
  pepper_bound_ = true;
  const auto start = std::chrono::steady_clock::now();
  const bool empty = table_.size() == 0;
  if (empty) table_.reserve(store_->estimated_keys());  // no rehashing while loading
  Applied a;
  const std::uint32_t stamp = ++stamp_;
  PollResult r = store_->load_all(visitor(stamp, a));
  if (!r.ok) {
    error = r.error;
    return false;
  }
  // A load that failed half-way (retried) may have left rows the store no longer has.
  const std::size_t erased = empty ? 0 : table_.erase_unstamped(stamp);
  last_seq_ = r.max_seq;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  spdlog::info("api keys: loaded {} keys from {} in {} ms", table_.size(), store_->describe(), ms);
  if (erased > 0) spdlog::info("api keys: {} keys no longer in the store were dropped", erased);
  report(a);
  loaded_.store(true, std::memory_order_release);
  store_succeeded();
  return true;
}

double KeyRegistry::staleness_seconds() const {
  const std::int64_t ns = last_success_ns_.load(std::memory_order_relaxed);
  const auto since =
      ns == 0 ? created_ : std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns));
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

void KeyRegistry::wake() {
  {
    std::lock_guard lock(wake_mu_);
    wake_pending_ = true;
  }
  wake_.notify_all();
}

void KeyRegistry::note_used(std::string_view id) {
  // Each thread remembers the last few ids it recorded since the last write, so a busy key
  // does not take the shared lock on every request.
  struct Recent {
    std::uint64_t owner = 0, epoch = 0;
    std::array<KeyId, 8> ids{};
    unsigned n = 0;
  };
  thread_local Recent recent;
  if (id.size() != kIdLength) return;
  KeyId k;
  std::copy(id.begin(), id.end(), k.begin());
  const std::uint64_t epoch = usage_epoch_.load(std::memory_order_acquire);
  if (recent.owner == id_ && recent.epoch == epoch) {
    for (unsigned i = 0; i < std::min<unsigned>(recent.n, recent.ids.size()); ++i) {
      if (recent.ids[i] == k) return;
    }
  } else {
    recent.owner = id_;
    recent.epoch = epoch;
    recent.n = 0;
  }
  recent.ids[recent.n++ % recent.ids.size()] = k;
  std::lock_guard lock(usage_mu_);
  if (used_.size() < kMaxPendingUsage) {
    used_.emplace(id);
  } else {
    usage_overflow_.fetch_add(1, std::memory_order_relaxed);
  }
}

void KeyRegistry::set_poll_interval(std::chrono::milliseconds interval) {
  poll_interval_ms_ = interval.count();
  wake();
}

bool KeyRegistry::poll_once() {
  std::lock_guard lock(poll_mu_);
  if (!loaded_.load(std::memory_order_relaxed)) {
    std::string error;
    if (load_locked(error)) return true;
    store_failed(error);
    return false;
  }
  const std::uint32_t stamp = ++stamp_;
  Applied a;
  const auto now = std::chrono::steady_clock::now();
  const bool after_failure = force_reload_;
  const bool full = after_failure || (options_.full_reload_interval.count() > 0 &&
                                      now - last_full_ >= options_.full_reload_interval);
  PollResult r = full ? store_->load_all(visitor(stamp, a))
                      : store_->changes_since(last_seq_, visitor(stamp, a));
  if (!r.ok) {
    // Rows already applied are real changes. Whatever failed, the next read is whole: a full
    // reload that failed half-way is redone from scratch, so that keys missing from the new
    // store do not linger; and a store that could not be read may have been restored from an
    // older copy, or failed over to a replica that was behind, meanwhile, with changes since
    // that brought its counter back to (or past) the one last seen.
    force_reload_ = true;
    store_failed(r.error);
    return false;
  }
  force_reload_ = false;
  if (full) last_full_ = now;
  std::size_t erased = 0;
  if (r.reset) erased = table_.erase_unstamped(stamp);
  last_seq_ = r.max_seq;
  report(a);
  if (r.reset && !full) {
    spdlog::warn("api keys: {} was replaced; reloaded {} keys ({} removed)", store_->describe(),
                 table_.size(), erased);
  } else if (after_failure) {
    spdlog::info("api keys: read {} whole again after failing to read it: {} keys ({} removed)",
                 store_->describe(), table_.size(), erased);
  } else if (full) {
    spdlog::debug("api keys: read {} whole again (every {} s): {} keys ({} removed)",
                  store_->describe(), options_.full_reload_interval.count() / 1000, table_.size(),
                  erased);
  } else if (a.changed > 0) {
    spdlog::info("api keys: applied {} changed keys ({} removed); {} keys", a.changed, erased,
                 table_.size());
  }
  store_succeeded();
  return true;
}

bool KeyRegistry::flush_usage() {
  std::unordered_set<std::string> batch;
  // A new epoch first: from here on every thread records its keys into the next batch.
  usage_epoch_.fetch_add(1, std::memory_order_acq_rel);
  {
    std::lock_guard lock(usage_mu_);
    batch.swap(used_);
  }
  auto& m = observe::Metrics::global();
  if (const auto overflow = usage_overflow_.exchange(0); overflow > 0) {
    m.add(kUsageDropped, {}, static_cast<double>(overflow));
  }
  if (batch.empty()) return true;
  std::vector<std::string> ids(batch.begin(), batch.end());
  std::string error = "the key store is unavailable";
  // Usage is a hint: with the store down (or failing now) the batch is dropped and counted
  // rather than held until it comes back.
  if (store_ok() && store_->record_usage(ids, unix_now(), error)) return true;
  m.add(kUsageDropped, {}, static_cast<double>(ids.size()));
  spdlog::debug("api keys: dropped the usage of {} keys: {}", ids.size(), error);
  return false;
}

void KeyRegistry::run(std::stop_token stop) {
  using Clock = std::chrono::steady_clock;
  // A loaded registry waits for its first interval; one still to load starts at once.
  auto next_poll = Clock::now() + (loaded() ? options_.poll_interval : Clock::duration::zero());
  auto next_flush = Clock::now() + options_.usage_flush_interval;
  while (!stop.stop_requested()) {
    bool woken = false;
    {
      // Until the next poll or usage write is due, or the store says it changed.
      std::unique_lock lock(wake_mu_);
      woken = wake_.wait_until(lock, stop, std::min(next_poll, next_flush),
                               [this] { return wake_pending_; });
      wake_pending_ = false;
    }
    if (stop.stop_requested()) break;
    if (woken || Clock::now() >= next_poll) {
      poll_once();
      next_poll = Clock::now() + std::chrono::milliseconds(poll_interval_ms_.load());
    }
    if (Clock::now() >= next_flush) {
      flush_usage();
      next_flush = Clock::now() + options_.usage_flush_interval;
    }
  }
  flush_usage();
}

void KeyRegistry::store_failed(const std::string& error) {
  auto& m = observe::Metrics::global();
  m.add(kStoreErrors, {});
  m.set_gauge(kStoreUp, {}, 0);
  const auto now = std::chrono::steady_clock::now();
  // Once when the store stops answering, then every kStaleLogEvery with the error of the day:
  // not at every change of wording (a reconnection's error, then a whole read's, then the
  // database's own messages as it restarts).
  const bool changed = store_ok_.exchange(false);
  if (!changed && now - last_failure_log_ < kStaleLogEvery) return;
  last_failure_log_ = now;
  const auto age = static_cast<long long>(staleness_seconds());
  if (!loaded()) {
    spdlog::error(
        "api keys: cannot load the key store ({}s since start); API-key routes answer "
        "503 until it can be read: {}",
        age, error);
  } else {
    spdlog::error(
        "api keys: key store unavailable, serving the last good view ({} keys, {}s "
        "old): {}",
        table_.size(), age, error);
  }
}

void KeyRegistry::store_succeeded() {
  auto& m = observe::Metrics::global();
  m.set_gauge(kStoreUp, {}, 1);
  m.set_gauge(kKeysLoaded, {}, static_cast<double>(table_.size()));
  m.set_gauge(kLastSuccess, {}, static_cast<double>(unix_now()));
  last_success_ns_.store(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count(),
                         std::memory_order_relaxed);
  if (!store_ok_.exchange(true)) {
    spdlog::info("api keys: key store {} is readable again ({} keys)", store_->describe(),
                 table_.size());
  }
}

}  // namespace portcullis::auth::api_key
