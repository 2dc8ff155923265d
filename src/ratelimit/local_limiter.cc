// The in-process store (see local_limiter.h).
#include "ratelimit/local_limiter.h"

#include <algorithm>
#include <chrono>
#include <cstring>

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

// The keys are short ("<limit>\x1f<kind>:<value>"): eight bytes at a time, each multiplied
// in, then splitmix64's finaliser so that the low bits (shard, bucket) depend on every byte.
std::size_t LocalLimiter::KeyHash::operator()(std::string_view k) const {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ k.size();
  const char* p = k.data();
  std::size_t n = k.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 31;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0x94d049bb133111ebULL;
    h ^= h >> 31;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return static_cast<std::size_t>(h);
}

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

// One request's checks as the table sees them, in buffers kept per thread: a request
// allocates nothing here once they are warm. The limit's name is part of the key: two limits
// on the same client count apart, and one limit listed on several routes is one budget
// across them.
struct LocalLimiter::Scratch {
  struct Entry {
    std::string key;  // "<limit>\x1f<key>"
    std::size_t hash = 0;
    Shard* shard = nullptr;
    Window* found = nullptr;  // null when the check has no window yet (judge)
    Hashed hashed() const { return {key, hash}; }
  };
  // Grown, never shrunk: the first checks.size() entries are the request's, and the first
  // `locks` of `order` its shards, each once, in address order (the locking order).
  std::vector<Entry> entries;
  std::vector<Shard*> order;
  std::size_t locks = 0;
};

namespace {

void set_table_key(std::string& k, const Check& c) {
  k.resize(c.limit.size() + 1 + c.key.size());  // in place once the buffer is warm
  char* p = k.data();
  std::memcpy(p, c.limit.data(), c.limit.size());
  p[c.limit.size()] = '\x1f';
  std::memcpy(p + c.limit.size() + 1, c.key.data(), c.key.size());
}

}  // namespace

LocalLimiter::Scratch& LocalLimiter::prepare(std::span<const Check> checks) {
  thread_local Scratch s;
  const std::size_t n = checks.size();
  if (s.entries.size() < n) s.entries.resize(n);
  if (s.order.size() < n) s.order.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    Scratch::Entry& e = s.entries[i];
    set_table_key(e.key, checks[i]);
    e.hash = KeyHash{}(e.key);
    e.shard = &shard_of(e.hash);
    s.order[i] = e.shard;
  }
  s.locks = n;
  if (n > 1) {
    const auto first = s.order.begin();
    std::sort(first, first + static_cast<std::ptrdiff_t>(n));
    s.locks = static_cast<std::size_t>(std::unique(first, first + static_cast<std::ptrdiff_t>(n)) -
                                       first);
  }
  return s;
}

void LocalLimiter::admit(std::vector<Check> checks,
                         std::function<void(std::vector<Outcome>)> done) {
  std::vector<Outcome> out;
  admit_into(checks, out);
  done(std::move(out));
}

void LocalLimiter::peek(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) {
  std::vector<Outcome> out;
  peek_into(checks, out);
  done(std::move(out));
}

bool LocalLimiter::admit_inline(std::span<const Check> checks, std::vector<Outcome>& out) {
  admit_into(checks, out);
  return true;
}

bool LocalLimiter::peek_inline(std::span<const Check> checks, std::vector<Outcome>& out) {
  peek_into(checks, out);
  return true;
}

std::vector<Outcome> LocalLimiter::admit_now(const std::vector<Check>& checks) {
  std::vector<Outcome> out;
  admit_into(checks, out);
  return out;
}

std::vector<Outcome> LocalLimiter::peek_now(const std::vector<Check>& checks) {
  std::vector<Outcome> out;
  peek_into(checks, out);
  return out;
}

void LocalLimiter::admit_into(std::span<const Check> checks, std::vector<Outcome>& out) {
  const std::int64_t t = now();
  Scratch& s = prepare(checks);
  out.resize(checks.size());
  if (admit_locked(checks, s, t, false, out)) return;
  // Full even after the shards it needs were swept: every shard, then once more.
  sweep_all_throttled(t);
  admit_locked(checks, s, t, true, out);
}

// False when the table is full and `last` is false (the caller sweeps every shard first).
bool LocalLimiter::admit_locked(std::span<const Check> checks, Scratch& s, std::int64_t t,
                                bool last, std::vector<Outcome>& out) {
  // Each shard locked once, in address order: no two requests wait on each other in a cycle.
  const std::span<Shard* const> held(s.order.data(), s.locks);
  for (Shard* sh : held) sh->mu.lock();
  struct Unlock {
    std::span<Shard* const> held;
    ~Unlock() {
      for (auto it = held.rbegin(); it != held.rend(); ++it) (*it)->mu.unlock();
    }
  } unlock{held};

  const std::uint64_t new_keys = judge(checks, s, t, out);
  const bool all = std::all_of(out.begin(), out.end(), [](const Outcome& o) { return o.admitted; });
  if (!all) return true;
  if (new_keys > 0 && tracked_.load(std::memory_order_relaxed) + new_keys > options_.max_keys) {
    // Full: the ended windows of the shards held are dropped, and the checks judged again
    // (a window found may have been one of them).
    for (Shard* sh : held) sweep_locked(*sh, t);
    if (tracked_.load(std::memory_order_relaxed) + judge(checks, s, t, out) > options_.max_keys) {
      if (!last) return false;
      keys_refused_.fetch_add(1, std::memory_order_relaxed);
      observe::Metrics::global().add(observe::series::kRateLimitKeysRefused, {});
      for (std::size_t i = 0; i < checks.size(); ++i) {
        if (s.entries[i].found == nullptr) out[i].admitted = false;
      }
      return true;
    }
  }
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    const std::int64_t start = window_start(t, c.per_s);
    Window* w = s.entries[i].found;
    if (w == nullptr) {
      w = &s.entries[i].shard->windows.try_emplace(s.entries[i].key).first->second;
      tracked_.fetch_add(1, std::memory_order_relaxed);
    }
    if (w->start != start || w->per_s != c.per_s) *w = Window{start, c.per_s, 0};
    ++w->count;
    --out[i].remaining;
  }
  return true;
}

// Each check against its window (the shards held): fills `out` and the entries' `found`, returns
// how many checks have no window yet.
std::uint64_t LocalLimiter::judge(std::span<const Check> checks, Scratch& s, std::int64_t t,
                                  std::vector<Outcome>& out) {
  std::uint64_t new_keys = 0;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    std::uint64_t used = 0;
    Scratch::Entry& e = s.entries[i];
    auto it = e.shard->windows.find(e.hashed());
    Window* w = it == e.shard->windows.end() ? nullptr : &it->second;
    e.found = w;
    if (w == nullptr) {
      ++new_keys;
    } else if (w->start == window_start(t, c.per_s) && w->per_s == c.per_s) {
      used = w->count;
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

void LocalLimiter::peek_into(std::span<const Check> checks, std::vector<Outcome>& out) {
  const std::int64_t t = now();
  Scratch& s = prepare(checks);
  out.resize(checks.size());
  for (std::size_t i = 0; i < checks.size(); ++i) {
    const Check& c = checks[i];
    std::uint64_t used = 0;
    {
      const Scratch::Entry& e = s.entries[i];
      std::lock_guard lock(e.shard->mu);
      auto it = e.shard->windows.find(e.hashed());
      if (it != e.shard->windows.end() && it->second.start == window_start(t, c.per_s) &&
          it->second.per_s == c.per_s) {
        used = it->second.count;
      }
    }
    out[i].admitted = used < c.requests;
    out[i].remaining = c.requests > used ? c.requests - used : 0;
    out[i].reset_s = reset_in(t, c.per_s);
  }
}

void LocalLimiter::record(Check c) {
  const std::int64_t t = now();
  const std::int64_t start = window_start(t, c.per_s);
  std::string key;
  set_table_key(key, c);
  const Hashed hashed{key, KeyHash{}(key)};
  Shard& s = shard_of(hashed.hash);
  std::lock_guard lock(s.mu);
  auto it = s.windows.find(hashed);
  if (it == s.windows.end()) {
    if (tracked_.load(std::memory_order_relaxed) >= options_.max_keys) sweep_locked(s, t);
    if (tracked_.load(std::memory_order_relaxed) >= options_.max_keys) {
      keys_refused_.fetch_add(1, std::memory_order_relaxed);
      observe::Metrics::global().add(observe::series::kRateLimitKeysRefused, {});
      return;
    }
    it = s.windows.emplace(std::move(key), Window{start, c.per_s, 0}).first;
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
    Shard& s = shard_of(KeyHash{}(row.key));
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
