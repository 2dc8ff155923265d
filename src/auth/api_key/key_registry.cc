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
// Usage of more keys than this between two writes is dropped rather than held.
constexpr std::size_t kMaxPendingUsage = 1'000'000;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

KeyRegistry::KeyRegistry(std::unique_ptr<KeyStore> store, std::unique_ptr<SecretHasher> hasher,
                         const Options& options)
    : store_(std::move(store)),
      hasher_(std::move(hasher)),
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
  if (!store->bind_pepper(fingerprint, error)) return nullptr;
  std::shared_ptr<KeyRegistry> r(new KeyRegistry(std::move(store), std::move(hasher), options));
  if (!r->initial_load(error)) return nullptr;
  observe::Metrics::global().add(kStoreErrors, {}, 0);  // the series exists before any error
  if (options.background) {
    r->thread_ = std::jthread([raw = r.get()](std::stop_token stop) { raw->run(stop); });
  }
  return r;
}

KeyRegistry::~KeyRegistry() {
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
}

bool KeyRegistry::initial_load(std::string& error) {
  std::lock_guard lock(poll_mu_);
  const auto start = std::chrono::steady_clock::now();
  Applied a;
  PollResult r = store_->load_all(visitor(++stamp_, a));
  if (!r.ok) {
    error = r.error;
    return false;
  }
  last_seq_ = r.max_seq;
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  spdlog::info("api keys: loaded {} keys from {} in {} ms", table_.size(), store_->describe(), ms);
  report(a);
  store_succeeded();
  return true;
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
  if (used_.size() < kMaxPendingUsage) used_.emplace(id);
}

void KeyRegistry::set_poll_interval(std::chrono::milliseconds interval) {
  poll_interval_ms_ = interval.count();
  wake_.notify_all();
}

bool KeyRegistry::poll_once() {
  std::lock_guard lock(poll_mu_);
  const std::uint32_t stamp = ++stamp_;
  Applied a;
  const bool full = force_reload_;
  PollResult r = full ? store_->load_all(visitor(stamp, a))
                      : store_->changes_since(last_seq_, visitor(stamp, a));
  if (!r.ok) {
    // Rows already applied are real changes; a full reload that failed half-way is redone
    // from scratch next time, so that keys missing from the new store do not linger.
    if (r.reset || full) force_reload_ = true;
    store_failed(r.error);
    return false;
  }
  force_reload_ = false;
  std::size_t erased = 0;
  if (r.reset) erased = table_.erase_unstamped(stamp);
  last_seq_ = r.max_seq;
  report(a);
  if (r.reset && !full) {
    spdlog::warn("api keys: {} was replaced; reloaded {} keys ({} removed)", store_->describe(),
                 table_.size(), erased);
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
  if (batch.empty()) return true;
  std::vector<std::string> ids(batch.begin(), batch.end());
  std::string error;
  if (store_->record_usage(ids, unix_now(), error)) return true;
  // Keep them for the next attempt; the poll reports the store's state.
  std::lock_guard lock(usage_mu_);
  for (auto& id : ids) {
    if (used_.size() >= kMaxPendingUsage) break;
    used_.insert(std::move(id));
  }
  spdlog::debug("api keys: cannot record key usage: {}", error);
  return false;
}

void KeyRegistry::run(std::stop_token stop) {
  auto last_flush = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    {
      std::unique_lock lock(wake_mu_);
      wake_.wait_for(lock, stop, std::chrono::milliseconds(poll_interval_ms_.load()),
                     [] { return false; });
    }
    if (stop.stop_requested()) break;
    poll_once();
    const auto now = std::chrono::steady_clock::now();
    if (now - last_flush >= options_.usage_flush_interval) {
      last_flush = now;
      flush_usage();
    }
  }
  flush_usage();
}

void KeyRegistry::store_failed(const std::string& error) {
  auto& m = observe::Metrics::global();
  m.add(kStoreErrors, {});
  m.set_gauge(kStoreUp, {}, 0);
  if (store_ok_.exchange(false) || error != last_error_) {
    spdlog::error("api keys: key store unavailable, serving the last good view ({} keys): {}",
                  table_.size(), error);
  }
  last_error_ = error;
}

void KeyRegistry::store_succeeded() {
  auto& m = observe::Metrics::global();
  m.set_gauge(kStoreUp, {}, 1);
  m.set_gauge(kKeysLoaded, {}, static_cast<double>(table_.size()));
  m.set_gauge(kLastSuccess, {}, static_cast<double>(unix_now()));
  if (!store_ok_.exchange(true)) {
    spdlog::info("api keys: key store {} is readable again ({} keys)", store_->describe(),
                 table_.size());
  }
  last_error_.clear();
}

}  // namespace portcullis::auth::api_key
