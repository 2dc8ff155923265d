// The shared limiter's buckets: one per limit and key, holding this gateway's slice of the
// current window. All state is under one mutex, held for a few lookups per request; callbacks
// and store calls run after it is released (Effects).
//
// Memory: buckets whose window has ended are dropped every 10 s. Over max_buckets, buckets
// holding no slice go first (forgetting them loses nothing: a spent window is learnt again
// with one call that grants nothing), then any idle one (its unused slice is lost to this
// window: the guarantee holds, a little of the budget is not used).
#include "ratelimit/shared_limiter.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "observe/metrics.h"

namespace portcullis::ratelimit {
namespace {

using Done = std::function<void(std::vector<Outcome>)>;

struct Waiter {
  std::vector<Check> checks;
  Done done;
  std::int64_t deadline_ms = 0;
};
using WaiterPtr = std::shared_ptr<Waiter>;

struct Bucket {
  std::int64_t window_start_s = -1;
  std::uint32_t per_s = 1;
  std::uint64_t limit = 0;
  std::uint64_t slice = 0;  // granted to this gateway by the store, not yet used
  std::uint64_t taken = 0;  // the store's counter as last seen (every gateway's grants)
  bool spent = false;       // the store has no budget left for this window
  bool refilling = false;
  std::uint64_t refill_id = 0;
  std::vector<WaiterPtr> waiters;
  bool reading = false;  // failed_auth: a background read in flight
  std::int64_t read_at_ms = -1;
};

std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::int64_t window_of(std::int64_t now_ms, std::uint32_t per_s) {
  const std::int64_t per = std::max<std::uint32_t>(per_s, 1);
  return (now_ms / 1000) / per * per;
}

std::uint32_t reset_s(std::int64_t now_ms, const Bucket& b) {
  const std::int64_t end_ms = (b.window_start_s + b.per_s) * 1000;
  return static_cast<std::uint32_t>(std::max<std::int64_t>((end_ms - now_ms + 999) / 1000, 0));
}

std::uint64_t remaining(const Bucket& b) {
  return (b.limit > b.taken ? b.limit - b.taken : 0) + b.slice;
}

std::string bucket_id(const Check& c) {
  return std::to_string(c.per_s) + ':' + std::to_string(c.limit.size()) + ':' + c.limit + ':' +
         c.key;
}

// The store's key: the limit's name (length first: names and keys may hold ':'), the window
// length and start, and the key.
std::string counter_name(const Check& c, std::int64_t window_start_s) {
  return "portcullis:rl:" + std::to_string(c.limit.size()) + ':' + c.limit + ':' +
         std::to_string(c.per_s) + ':' + std::to_string(window_start_s) + ':' + c.key;
}

std::string_view mode_name(OnStoreError m) {
  switch (m) {
    case OnStoreError::Local:
      return "local";
    case OnStoreError::Allow:
      return "allow";
    case OnStoreError::Deny:
      return "deny";
  }
  return "local";
}

}  // namespace

struct SharedLimiter::State : std::enable_shared_from_this<State> {
  std::shared_ptr<BudgetStore> store;
  std::shared_ptr<Limiter> fallback;
  SharedLimiterOptions opt;
  mutable std::mutex mu;
  std::unordered_map<std::string, Bucket> buckets;
  std::int64_t swept_at_ms = 0;
  std::atomic<bool> store_ok{true};

  // What to do once the lock is released.
  struct Effects {
    std::vector<std::function<void()>> run;
    void answer(const WaiterPtr& w, std::vector<Outcome> o) {
      run.push_back([w, o = std::move(o)]() mutable { w->done(std::move(o)); });
    }
    void flush() {
      for (auto& f : run) f();
    }
  };

  std::int64_t now() const { return opt.now_ms(); }

  Bucket& bucket_for(const Check& c, std::int64_t now_ms) {
    Bucket& b = buckets[bucket_id(c)];
    const std::int64_t ws = window_of(now_ms, c.per_s);
    if (b.window_start_s < ws) {
      b.window_start_s = ws;
      b.slice = 0;
      b.taken = 0;
      b.spent = false;
      b.read_at_ms = -1;
      b.reading = false;
      if (b.refilling) {  // the reservation in flight was for the old window
        b.refilling = false;
        ++b.refill_id;
      }
    }
    b.per_s = std::max<std::uint32_t>(c.per_s, 1);
    b.limit = c.requests;
    return b;
  }

  void evaluate(const WaiterPtr& w, Effects& fx);
  void take(const WaiterPtr& w, const std::vector<Bucket*>& bs, std::int64_t now_ms, Effects& fx);
  void refuse(const WaiterPtr& w, const std::vector<Bucket*>& bs, std::size_t refused,
              std::int64_t now_ms, Effects& fx);
  void start_refill(Bucket& b, const Check& c, std::int64_t now_ms, Effects& fx);
  void on_reserved(const std::string& id, std::uint64_t refill_id, const StoreAnswer& a,
                   std::chrono::steady_clock::time_point started);
  void on_error(const WaiterPtr& w, std::int64_t now_ms, Effects& fx);
  void sweep(std::int64_t now_ms);
  void refresh(Bucket& b, const Check& c, std::int64_t now_ms, Effects& fx);
  void on_counted(const std::string& id, std::int64_t window_start_s, const StoreAnswer& a);
};

// Under the lock: admit from the slices, refuse on a spent window, or wait for a refill.
void SharedLimiter::State::evaluate(const WaiterPtr& w, Effects& fx) {
  const std::int64_t now_ms = now();
  std::vector<Bucket*> bs;
  bs.reserve(w->checks.size());
  Bucket* need = nullptr;
  const Check* need_check = nullptr;
  for (std::size_t i = 0; i < w->checks.size(); ++i) {
    Bucket& b = bucket_for(w->checks[i], now_ms);
    bs.push_back(&b);
    // The same bucket twice in one request needs two from its slice.
    const auto uses = static_cast<std::uint64_t>(std::count(bs.begin(), bs.end(), &b));
    if (b.slice >= uses) continue;
    if (b.spent) return refuse(w, bs, i, now_ms, fx);
    if (need == nullptr) {
      need = &b;
      need_check = &w->checks[i];
    }
  }
  if (need == nullptr) return take(w, bs, now_ms, fx);
  if (now_ms >= w->deadline_ms) return on_error(w, now_ms, fx);
  need->waiters.push_back(w);
  if (!need->refilling) start_refill(*need, *need_check, now_ms, fx);
}

void SharedLimiter::State::take(const WaiterPtr& w, const std::vector<Bucket*>& bs,
                                std::int64_t now_ms, Effects& fx) {
  std::vector<Outcome> out(bs.size());
  for (Bucket* b : bs) --b->slice;
  for (std::size_t i = 0; i < bs.size(); ++i) {
    out[i] = Outcome{true, remaining(*bs[i]), reset_s(now_ms, *bs[i])};
  }
  fx.answer(w, std::move(out));
}

// Only the check that ran out says so; the others report what they have left.
void SharedLimiter::State::refuse(const WaiterPtr& w, const std::vector<Bucket*>& seen,
                                  std::size_t refused, std::int64_t now_ms, Effects& fx) {
  std::vector<Outcome> out(w->checks.size());
  for (std::size_t i = 0; i < w->checks.size(); ++i) {
    const Bucket& b = i < seen.size() ? *seen[i] : bucket_for(w->checks[i], now_ms);
    out[i] = Outcome{i != refused, i == refused ? 0 : remaining(b), reset_s(now_ms, b)};
  }
  fx.answer(w, std::move(out));
}

void SharedLimiter::State::start_refill(Bucket& b, const Check& c, std::int64_t now_ms,
                                        Effects& fx) {
  Reservation r;
  r.counter = counter_name(c, b.window_start_s);
  r.limit = c.requests;
  r.at_least = std::max<std::uint64_t>(b.waiters.size(), 1);
  r.want = std::max(c.requests / std::max<std::uint64_t>(opt.slice_fraction, 1), r.at_least);
  r.divisor = opt.divisor;
  r.expire_at_ms = (b.window_start_s + b.per_s) * 1000 + 1000;
  // No waiter may wait past its deadline: the call's timeout is the nearest one.
  std::int64_t due = now_ms + opt.timeout.count();
  for (const auto& w : b.waiters) due = std::min(due, w->deadline_ms);
  const auto timeout = std::chrono::milliseconds(std::max<std::int64_t>(due - now_ms, 1));
  b.refilling = true;
  const std::uint64_t id = ++b.refill_id;
  std::weak_ptr<State> weak = weak_from_this();
  fx.run.push_back([weak, store = store, r = std::move(r), timeout, key = bucket_id(c), id] {
    const auto started = std::chrono::steady_clock::now();
    store->reserve(r, timeout, [weak, key, id, started](StoreAnswer a) {
      if (auto self = weak.lock()) self->on_reserved(key, id, a, started);
    });
  });
}

void SharedLimiter::State::on_reserved(const std::string& id, std::uint64_t refill_id,
                                       const StoreAnswer& a,
                                       std::chrono::steady_clock::time_point started) {
  auto& metrics = observe::Metrics::global();
  metrics.observe(
      "portcullis_rate_limit_store_reservation_seconds", {},
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  metrics.add("portcullis_rate_limit_store_reservations_total",
              {{"result", !a.ok           ? "error"
                          : a.granted > 0 ? "granted"
                                          : "spent"}});
  store_ok = a.ok;
  Effects fx;
  {
    std::lock_guard lock(mu);
    auto it = buckets.find(id);
    if (it == buckets.end()) return;  // never with waiters: those are not swept
    Bucket& b = it->second;
    if (b.refill_id == refill_id) {
      b.refilling = false;
      if (a.ok) {
        b.slice += a.granted;
        b.taken = std::max(b.taken, a.taken);
        if (b.taken >= b.limit) b.spent = true;
      }
    }
    if (!b.refilling) {  // else the reservation in flight (a newer window's) serves them
      std::vector<WaiterPtr> waiters;
      waiters.swap(b.waiters);
      const std::int64_t now_ms = now();
      for (const auto& w : waiters) {
        if (a.ok || b.refill_id != refill_id) {
          evaluate(w, fx);
        } else {
          on_error(w, now_ms, fx);
        }
      }
    }
  }
  fx.flush();
}

void SharedLimiter::State::on_error(const WaiterPtr& w, std::int64_t now_ms, Effects& fx) {
  observe::Metrics::global().add("portcullis_rate_limit_store_fallbacks_total",
                                 {{"on_error", mode_name(opt.on_error)}});
  if (opt.on_error == OnStoreError::Local && fallback) {
    fx.run.push_back([fb = fallback, w] { fb->admit(w->checks, w->done); });
    return;
  }
  const bool allow = opt.on_error == OnStoreError::Allow;
  std::vector<Outcome> out;
  for (const auto& c : w->checks) {
    const auto end_ms = (window_of(now_ms, c.per_s) + std::max<std::uint32_t>(c.per_s, 1)) * 1000;
    const auto reset = static_cast<std::uint32_t>((end_ms - now_ms + 999) / 1000);
    out.push_back(Outcome{allow, allow ? c.requests : 0, reset});
  }
  fx.answer(w, std::move(out));
}

void SharedLimiter::State::sweep(std::int64_t now_ms) {
  swept_at_ms = now_ms;
  auto idle = [](const Bucket& b) { return !b.refilling && !b.reading && b.waiters.empty(); };
  std::erase_if(buckets, [&](const auto& kv) {
    const Bucket& b = kv.second;
    return idle(b) && (b.window_start_s + b.per_s) * 1000 <= now_ms;
  });
  if (buckets.size() <= opt.max_buckets) return;
  const std::size_t target = opt.max_buckets - opt.max_buckets / 10;
  for (bool any_slice : {false, true}) {
    for (auto it = buckets.begin(); it != buckets.end() && buckets.size() > target;) {
      const Bucket& b = it->second;
      it = idle(b) && (any_slice || b.slice == 0) ? buckets.erase(it) : std::next(it);
    }
  }
}

SharedLimiter::SharedLimiter(std::shared_ptr<BudgetStore> store, std::shared_ptr<Limiter> fallback,
                             SharedLimiterOptions options)
    : state_(std::make_shared<State>()) {
  state_->store = std::move(store);
  state_->fallback = std::move(fallback);
  state_->opt = std::move(options);
  if (!state_->opt.now_ms) state_->opt.now_ms = system_now_ms;
  std::weak_ptr<BudgetStore> weak_store = state_->store;
  observe::Metrics::global().add_live_gauge(state_, "portcullis_rate_limit_store_up", {},
                                            [weak_store]() -> std::optional<double> {
                                              auto s = weak_store.lock();
                                              if (!s) return std::nullopt;
                                              return s->up() ? 1 : 0;
                                            });
}

SharedLimiter::~SharedLimiter() = default;

void SharedLimiter::admit(std::vector<Check> checks, Done done) {
  auto w = std::make_shared<Waiter>();
  w->checks = std::move(checks);
  w->done = std::move(done);
  State::Effects fx;
  {
    std::lock_guard lock(state_->mu);
    const std::int64_t now_ms = state_->now();
    w->deadline_ms = now_ms + state_->opt.timeout.count();
    if (now_ms - state_->swept_at_ms >= 10000 || state_->buckets.size() > state_->opt.max_buckets) {
      state_->sweep(now_ms);
    }
    state_->evaluate(w, fx);
  }
  fx.flush();
}

// failed_auth: the count as last seen; a background read when it is over a second old.
void SharedLimiter::peek(std::vector<Check> checks, Done done) {
  if (!state_->store_ok && state_->opt.on_error == OnStoreError::Local && state_->fallback) {
    return state_->fallback->peek(std::move(checks), std::move(done));
  }
  std::vector<Outcome> out;
  State::Effects fx;
  {
    std::lock_guard lock(state_->mu);
    const std::int64_t now_ms = state_->now();
    const bool down = !state_->store_ok;
    for (const auto& c : checks) {
      Bucket& b = state_->bucket_for(c, now_ms);
      const bool left = b.taken < b.limit;
      const bool admitted = down ? state_->opt.on_error != OnStoreError::Deny : left;
      out.push_back(Outcome{admitted, left ? b.limit - b.taken : 0, reset_s(now_ms, b)});
      state_->refresh(b, c, now_ms, fx);
    }
  }
  fx.flush();
  done(std::move(out));
}

void SharedLimiter::record(Check check) {
  if (state_->opt.on_error == OnStoreError::Local && state_->fallback) {
    state_->fallback->record(check);
  }
  std::string counter, id = bucket_id(check);
  std::int64_t window = 0, expire_at_ms = 0;
  {
    std::lock_guard lock(state_->mu);
    Bucket& b = state_->bucket_for(check, state_->now());
    ++b.taken;  // at once; the store's total replaces it when it answers
    window = b.window_start_s;
    expire_at_ms = (b.window_start_s + b.per_s) * 1000 + 1000;
    counter = counter_name(check, window);
  }
  std::weak_ptr<State> weak = state_;
  state_->store->add(counter, 1, expire_at_ms, state_->opt.timeout,
                     [weak, id, window](StoreAnswer a) {
                       if (auto self = weak.lock()) self->on_counted(id, window, a);
                     });
}

void SharedLimiter::State::refresh(Bucket& b, const Check& c, std::int64_t now_ms, Effects& fx) {
  if (b.reading || (b.read_at_ms >= 0 && now_ms - b.read_at_ms < 1000)) return;
  b.reading = true;
  b.read_at_ms = now_ms;
  std::weak_ptr<State> weak = weak_from_this();
  fx.run.push_back([weak, store = store, counter = counter_name(c, b.window_start_s),
                    id = bucket_id(c), window = b.window_start_s, timeout = opt.timeout] {
    store->read(counter, timeout, [weak, id, window](StoreAnswer a) {
      if (auto self = weak.lock()) self->on_counted(id, window, a);
    });
  });
}

void SharedLimiter::State::on_counted(const std::string& id, std::int64_t window_start_s,
                                      const StoreAnswer& a) {
  store_ok = a.ok;
  std::lock_guard lock(mu);
  auto it = buckets.find(id);
  if (it == buckets.end() || it->second.window_start_s != window_start_s) return;
  it->second.reading = false;
  if (a.ok) it->second.taken = std::max(it->second.taken, a.taken);
}

std::size_t SharedLimiter::buckets() const {
  std::lock_guard lock(state_->mu);
  return state_->buckets.size();
}

}  // namespace portcullis::ratelimit
