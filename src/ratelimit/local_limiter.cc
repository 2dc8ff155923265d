// The in-process store (see local_limiter.h).
#include "ratelimit/local_limiter.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "observe/metrics.h"
#include "ratelimit/state_file.h"
#include "spdlog/spdlog.h"

namespace portcullis::ratelimit {
namespace {

std::int64_t window_start(std::int64_t now, std::uint32_t per_s) {
  const auto per = static_cast<std::int64_t>(per_s);
  return now - ((now % per) + per) % per;
}

std::uint32_t reset_in(std::int64_t now, std::uint32_t per_s) {
  return static_cast<std::uint32_t>(window_start(now, per_s) + per_s - now);
}

}  // namespace

LocalLimiter::LocalLimiter(Options options)
    : options_(std::move(options)), shards_(std::make_unique<Shard[]>(kShards)) {}

std::shared_ptr<LocalLimiter> LocalLimiter::create(Options options, std::string& error) {
  std::shared_ptr<LocalLimiter> limiter(new LocalLimiter(std::move(options)));
  if (!limiter->options_.state_file.empty()) {
    limiter->state_ = StateFile::open(limiter->options_.state_file, error);
    if (!limiter->state_ || !limiter->load(error)) return nullptr;
  }
  if (limiter->options_.background)
    limiter->thread_ = std::thread([p = limiter.get()] { p->run(); });
  return limiter;
}

LocalLimiter::~LocalLimiter() {
  if (thread_.joinable()) {
    {
      std::lock_guard lock(thread_mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  std::string error;
  save(error);
}

std::int64_t LocalLimiter::now() const {
  if (options_.now_s) return options_.now_s();
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The limit's name is part of the key: two limits on the same client count apart, and one
// limit listed on several routes is one budget across them.
std::string LocalLimiter::table_key(const Check& c) {
  std::string k;
  k.reserve(c.limit.size() + 1 + c.key.size());
  k += c.limit;
  k += '\x1f';
  k += c.key;
  return k;
}

LocalLimiter::Shard& LocalLimiter::shard_of(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

void LocalLimiter::admit(std::vector<Check> checks,
                         std::function<void(std::vector<Outcome>)> done) {
  done(admit_now(checks));
}

void LocalLimiter::peek(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) {
  done(peek_now(checks));
}

std::vector<Outcome> LocalLimiter::admit_now(const std::vector<Check>& checks) {
  const std::int64_t t = now();
  std::vector<std::string> keys;
  std::vector<Shard*> shards;
  keys.reserve(checks.size());
  shards.reserve(checks.size());
  for (const auto& c : checks) {
    keys.push_back(table_key(c));
    shards.push_back(&shard_of(keys.back()));
  }
  if (auto out = admit_locked(checks, keys, shards, t, false)) return std::move(*out);
  // Full even after the shards it needs were swept: every shard, then once more.
  sweep_all_throttled(t);
  return std::move(*admit_locked(checks, keys, shards, t, true));
}

// Nullopt when the table is full and `last` is false (the caller sweeps every shard first).
std::optional<std::vector<Outcome>> LocalLimiter::admit_locked(const std::vector<Check>& checks,
                                                               const std::vector<std::string>& keys,
                                                               const std::vector<Shard*>& shards,
                                                               std::int64_t t, bool last) {
  // Each shard locked once, in address order: no two requests wait on each other in a cycle.
  std::vector<Shard*> order = shards;
  std::sort(order.begin(), order.end());
  order.erase(std::unique(order.begin(), order.end()), order.end());
  std::vector<std::unique_lock<std::mutex>> locks;
  locks.reserve(order.size());
  for (Shard* s : order) locks.emplace_back(s->mu);

  std::vector<Outcome> out(checks.size());
  std::vector<Window*> found(checks.size(), nullptr);
  const std::uint64_t new_keys = judge(checks, keys, shards, t, out, found);
  const bool all = std::all_of(out.begin(), out.end(), [](const Outcome& o) { return o.admitted; });
  if (!all) return out;
  if (new_keys > 0 && tracked_.load(std::memory_order_relaxed) + new_keys > options_.max_keys) {
    // Full: the ended windows of the shards held are dropped, and the checks judged again
    // (a window found may have been one of them).
    for (Shard* s : order) sweep_locked(*s, t);
    if (tracked_.load(std::memory_order_relaxed) + judge(checks, keys, shards, t, out, found) >
        options_.max_keys) {
      if (!last) return std::nullopt;
      keys_refused_.fetch_add(1, std::memory_order_relaxed);
      observe::Metrics::global().add(observe::series::kRateLimitKeysRefused, {});
      for (std::size_t i = 0; i < checks.size(); ++i) {
        if (found[i] == nullptr) out[i].admitted = false;
      }
      return out;
    }
  }
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    const std::int64_t start = window_start(t, c.per_s);
    Window* w = found[i];
    if (w == nullptr) {
      w = &shards[i]->windows[keys[i]];
      tracked_.fetch_add(1, std::memory_order_relaxed);
    }
    if (w->start != start || w->per_s != c.per_s) *w = Window{start, c.per_s, 0};
    ++w->count;
    --out[i].remaining;
  }
  return out;
}

// Each check against its window (the shards held): fills `out` and `found`, returns how many
// checks have no window yet.
std::uint64_t LocalLimiter::judge(const std::vector<Check>& checks,
                                  const std::vector<std::string>& keys,
                                  const std::vector<Shard*>& shards, std::int64_t t,
                                  std::vector<Outcome>& out, std::vector<Window*>& found) {
  std::uint64_t new_keys = 0;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    std::uint64_t used = 0;
    auto it = shards[i]->windows.find(keys[i]);
    found[i] = it == shards[i]->windows.end() ? nullptr : &it->second;
    if (found[i] == nullptr) {
      ++new_keys;
    } else if (found[i]->start == window_start(t, c.per_s) && found[i]->per_s == c.per_s) {
      used = found[i]->count;
    }
    out[i].admitted = used < c.requests;
    out[i].remaining = c.requests > used ? c.requests - used : 0;
    out[i].reset_s = reset_in(t, c.per_s);
  }
  return new_keys;
}

// A sweep of every shard when the table is full, at most once a second: a flood of new keys
// at the cap must not turn into a scan of the whole table per request.
void LocalLimiter::sweep_all_throttled(std::int64_t t) {
  std::int64_t last = last_full_sweep_.load(std::memory_order_relaxed);
  if (t <= last || !last_full_sweep_.compare_exchange_strong(last, t)) return;
  sweep();
}

std::vector<Outcome> LocalLimiter::peek_now(const std::vector<Check>& checks) {
  const std::int64_t t = now();
  std::vector<Outcome> out(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    const std::string key = table_key(c);
    Shard& s = shard_of(key);
    std::uint64_t used = 0;
    {
      std::lock_guard lock(s.mu);
      auto it = s.windows.find(key);
      if (it != s.windows.end() && it->second.start == window_start(t, c.per_s) &&
          it->second.per_s == c.per_s) {
        used = it->second.count;
      }
    }
    out[i].admitted = used < c.requests;
    out[i].remaining = c.requests > used ? c.requests - used : 0;
    out[i].reset_s = reset_in(t, c.per_s);
  }
  return out;
}

void LocalLimiter::record(Check c) {
  const std::int64_t t = now();
  const std::int64_t start = window_start(t, c.per_s);
  const std::string key = table_key(c);
  Shard& s = shard_of(key);
  std::lock_guard lock(s.mu);
  auto it = s.windows.find(key);
  if (it == s.windows.end()) {
    if (tracked_.load(std::memory_order_relaxed) >= options_.max_keys) sweep_locked(s, t);
    if (tracked_.load(std::memory_order_relaxed) >= options_.max_keys) {
      keys_refused_.fetch_add(1, std::memory_order_relaxed);
      observe::Metrics::global().add(observe::series::kRateLimitKeysRefused, {});
      return;
    }
    it = s.windows.emplace(key, Window{start, c.per_s, 0}).first;
    tracked_.fetch_add(1, std::memory_order_relaxed);
  }
  Window& w = it->second;
  if (w.start != start || w.per_s != c.per_s) w = Window{start, c.per_s, 0};
  ++w.count;
}

std::size_t LocalLimiter::sweep_locked(Shard& s, std::int64_t t) {
  std::size_t dropped = 0;
  for (auto it = s.windows.begin(); it != s.windows.end();) {
    if (it->second.start + it->second.per_s <= t) {
      it = s.windows.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  tracked_.fetch_sub(dropped, std::memory_order_relaxed);
  return dropped;
}

std::size_t LocalLimiter::sweep() {
  const std::int64_t t = now();
  std::size_t dropped = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    dropped += sweep_locked(shards_[i], t);
  }
  return dropped;
}

bool LocalLimiter::save(std::string& error) {
  if (!state_) return true;
  const std::int64_t t = now();
  std::vector<SavedWindow> rows;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mu);
    for (const auto& [key, w] : shards_[i].windows) {
      if (w.per_s >= options_.persist_min_s && w.start + w.per_s > t && w.count > 0) {
        rows.push_back({key, w.start, w.per_s, w.count});
      }
    }
  }
  std::lock_guard lock(save_mu_);
  return state_->save(rows, error);
}

bool LocalLimiter::load(std::string& error) {
  std::vector<SavedWindow> rows;
  if (!state_->load(rows, error)) return false;
  const std::int64_t t = now();
  for (auto& row : rows) {
    if (row.per_s == 0 || row.start + row.per_s <= t ||
        row.start != window_start(row.start, row.per_s)) {
      continue;  // ended, or not a window this limiter would make
    }
    if (tracked_.load(std::memory_order_relaxed) >= options_.max_keys) break;
    Shard& s = shard_of(row.key);
    std::lock_guard lock(s.mu);
    if (s.windows.emplace(std::move(row.key), Window{row.start, row.per_s, row.count}).second) {
      tracked_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return true;
}

// Sweeps every sweep_interval_s and saves every save_interval_s until destroyed.
void LocalLimiter::run() {
  using std::chrono::seconds;
  auto next_sweep = std::chrono::steady_clock::now() + seconds(options_.sweep_interval_s);
  auto next_save = std::chrono::steady_clock::now() + seconds(options_.save_interval_s);
  std::unique_lock lock(thread_mu_);
  while (!stop_) {
    wake_.wait_until(lock, std::min(next_sweep, next_save), [this] { return stop_; });
    if (stop_) break;
    lock.unlock();
    const auto t = std::chrono::steady_clock::now();
    if (t >= next_sweep) {
      sweep();
      next_sweep = t + seconds(options_.sweep_interval_s);
    }
    if (t >= next_save) {
      std::string error;
      if (!save(error)) spdlog::warn("rate limits: could not save the state file: {}", error);
      next_save = t + seconds(options_.save_interval_s);
    }
    lock.lock();
  }
}

}  // namespace portcullis::ratelimit
