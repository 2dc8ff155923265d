#include "auth/jwt/jwks_cache.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/beast/core/string.hpp>
#include <charconv>

#include "auth/credential_extractor.h"
#include "observe/metrics.h"

namespace portcullis::auth::jwt {

using jose::parse_jwks;
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

std::optional<unsigned> cache_control_max_age(std::string_view value) {
  std::optional<unsigned> result;
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view item = trim_ows(value.substr(0, comma));
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    if (boost::beast::iequals(item, "no-store") || boost::beast::iequals(item, "no-cache"))
      return 0u;
    if (item.size() > 8 && boost::beast::iequals(item.substr(0, 8), "max-age=")) {
      std::string_view n = item.substr(8);
      if (n.size() >= 2 && n.front() == '"' && n.back() == '"') n = n.substr(1, n.size() - 2);
      unsigned v = 0;
      auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
      if (ec == std::errc::result_out_of_range)
        v = ~0u;
      else if (ec != std::errc() || p != n.data() + n.size())
        continue;
      result = v;
    }
  }
  return result;
}

std::shared_ptr<JwksCache> JwksCache::create(JwksOptions options,
                                             std::unique_ptr<JwksFetcher> fetcher,
                                             std::shared_ptr<Scheduler> scheduler, SteadyNow now) {
  if (!now) now = [] { return Clock::now(); };
  return std::shared_ptr<JwksCache>(
      new JwksCache(std::move(options), std::move(fetcher), std::move(scheduler), std::move(now)));
}

JwksCache::JwksCache(JwksOptions options, std::unique_ptr<JwksFetcher> fetcher,
                     std::shared_ptr<Scheduler> scheduler, SteadyNow now)
    : options_(std::move(options)),
      fetcher_(std::move(fetcher)),
      scheduler_(std::move(scheduler)),
      now_(std::move(now)) {}

JwksCache::~JwksCache() = default;

void JwksCache::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  if (!in_flight_) start_fetch_locked(false);
}

bool JwksCache::ready() const {
  std::lock_guard lock(mu_);
  return keys_ != nullptr;
}

std::string_view JwksCache::not_ready_reason() const {
  std::lock_guard lock(mu_);
  if (!keys_) return kNoKeysYet;
  if (stale_locked(now_())) return kKeysTooOld;
  return {};
}

std::size_t JwksCache::key_count() const {
  std::lock_guard lock(mu_);
  return keys_ ? keys_->size() : 0;
}

std::optional<double> JwksCache::age_seconds() const {
  std::lock_guard lock(mu_);
  if (!fetched_at_) return std::nullopt;
  return std::chrono::duration<double>(now_() - *fetched_at_).count();
}

bool JwksCache::fetch_in_flight() const {
  std::lock_guard lock(mu_);
  return in_flight_;
}

bool JwksCache::stale_locked(Clock::time_point now) const {
  return fetched_at_ && now - *fetched_at_ > options_.max_stale;
}

bool JwksCache::may_refetch_locked(Clock::time_point now) const {
  return !kid_refetch_at_ || now - *kid_refetch_at_ >= options_.refetch_cooldown;
}

LookupResult JwksCache::answer_locked(const std::optional<std::string_view>& kid, Alg alg,
                                      Clock::time_point now) const {
  if (!keys_) return {KeyLookup::NotReady, nullptr};
  if (stale_locked(now)) return {KeyLookup::Unavailable, nullptr};
  if (auto k = keys_->find(kid, alg)) return {KeyLookup::Found, std::move(k)};
  // The last fetch failed: the key may exist at the issuer, so "unknown" would be a guess.
  if (last_failed_) return {KeyLookup::Unavailable, nullptr};
  return {KeyLookup::UnknownKey, nullptr};
}

LookupResult JwksCache::try_lookup(std::optional<std::string_view> kid, Alg alg) {
  LookupResult r = lookup_in_memory(kid, alg);
  // Outside the lock: the metrics registry reads this cache's age (a live gauge) with its own
  // lock held.
  if (r.status == KeyLookup::NeedFetch || r.status == KeyLookup::UnknownKey) {
    observe::Metrics::global().add("portcullis_jwks_kid_misses_total",
                                   {{"provider", options_.provider}});
  }
  return r;
}

LookupResult JwksCache::lookup_in_memory(std::optional<std::string_view> kid, Alg alg) {
  std::lock_guard lock(mu_);
  const auto now = now_();
  if (!keys_) {
    // Not ready: answer at once (503), and let requests hasten a retry within the cooldown.
    if (started_ && !in_flight_ && may_refetch_locked(now)) start_fetch_locked(true);
    return {KeyLookup::NotReady, nullptr};
  }
  if (stale_locked(now)) {
    if (!in_flight_ && may_refetch_locked(now)) start_fetch_locked(true);
    return {KeyLookup::Unavailable, nullptr};
  }
  if (auto k = keys_->find(kid, alg)) return {KeyLookup::Found, std::move(k)};
  if (in_flight_ || may_refetch_locked(now)) return {KeyLookup::NeedFetch, nullptr};
  return answer_locked(kid, alg, now);
}

void JwksCache::lookup_async(std::optional<std::string> kid, Alg alg,
                             std::function<void(LookupResult)> done) {
  LookupResult immediate;
  {
    std::lock_guard lock(mu_);
    const auto now = now_();
    std::optional<std::string_view> k;
    if (kid) k = *kid;
    immediate = answer_locked(k, alg, now);
    const bool retry =
        immediate.status == KeyLookup::UnknownKey || immediate.status == KeyLookup::Unavailable;
    if (retry && (in_flight_ || may_refetch_locked(now))) {
      if (!in_flight_) start_fetch_locked(true);
      waiters_.push_back({std::move(kid), alg, std::move(done)});
      return;
    }
  }
  done(std::move(immediate));
}

void JwksCache::start_fetch_locked(bool kid_miss) {
  in_flight_ = true;
  if (kid_miss) kid_refetch_at_ = now_();
  std::weak_ptr<JwksCache> weak = weak_from_this();
  // The fetcher may answer before fetch() returns (a failed connect, a test): on_fetched
  // takes the lock, so the call must happen after this function has released it. A
  // scheduled zero-delay call would do; simpler, the fetch starts from the scheduler too.
  scheduler_->after(std::chrono::milliseconds(0), [weak] {
    auto self = weak.lock();
    if (!self) return;
    self->fetcher_->fetch([weak](FetchResult r) {
      if (auto s = weak.lock()) s->on_fetched(std::move(r));
    });
  });
}

void JwksCache::schedule_locked(Clock::duration delay) {
  const std::uint64_t gen = ++timer_generation_;
  std::weak_ptr<JwksCache> weak = weak_from_this();
  scheduler_->after(std::chrono::duration_cast<std::chrono::milliseconds>(delay), [weak, gen] {
    auto self = weak.lock();
    if (!self) return;
    std::lock_guard lock(self->mu_);
    if (gen != self->timer_generation_ || self->in_flight_) return;
    self->start_fetch_locked(false);
  });
}

void JwksCache::on_fetched(FetchResult result) {
  KeySet parsed;
  std::vector<std::string> skipped;
  std::string error = result.error;
  bool ok = result.ok;
  if (ok) {
    if (!parse_jwks(result.body, parsed, skipped, error)) {
      ok = false;
    } else if (parsed.empty()) {
      ok = false;
      error = "the JWK set has no usable signing key";
    }
  }
  auto& metrics = observe::Metrics::global();
  metrics.add("portcullis_jwks_fetches_total",
              {{"provider", options_.provider}, {"result", ok ? "success" : "failure"}});

  std::vector<Waiter> waiters;
  std::vector<LookupResult> answers;
  std::optional<std::size_t> key_count;
  {
    std::lock_guard lock(mu_);
    in_flight_ = false;
    const auto now = now_();
    if (ok) {
      const bool first = keys_ == nullptr;
      keys_ = std::make_shared<const KeySet>(std::move(parsed));
      fetched_at_ = now;
      last_failed_ = false;
      failures_ = 0;
      auto interval = std::chrono::duration_cast<std::chrono::seconds>(options_.refresh);
      if (result.max_age) interval = std::chrono::seconds(*result.max_age);
      interval = std::clamp(interval, options_.min_refresh, options_.max_refresh);
      schedule_locked(interval);
      if (first) {
        spdlog::info("jwt provider '{}': {} signing key(s) fetched", options_.provider,
                     keys_->size());
      } else {
        spdlog::debug("jwt provider '{}': {} signing key(s) refreshed", options_.provider,
                      keys_->size());
      }
      for (const auto& s : skipped) {
        spdlog::warn("jwt provider '{}': skipping {}", options_.provider, s);
      }
      key_count = keys_->size();
    } else {
      last_failed_ = true;
      ++failures_;
      // 1 s, 2 s, 4 s ... up to jwks_min_refresh_s.
      auto backoff = std::chrono::seconds(1) * (1u << std::min(failures_ - 1, 16u));
      schedule_locked(std::min<std::chrono::seconds>(backoff, options_.min_refresh));
      spdlog::warn("jwt provider '{}': fetching the signing keys failed: {}{}", options_.provider,
                   error, keys_ ? " (keeping the last good keys)" : "");
    }
    waiters = std::move(waiters_);
    waiters_.clear();
    for (const auto& w : waiters) {
      std::optional<std::string_view> k;
      if (w.kid) k = *w.kid;
      answers.push_back(answer_locked(k, w.alg, now));
    }
  }
  if (key_count) {
    metrics.set_gauge("portcullis_jwks_keys", {{"provider", options_.provider}},
                      static_cast<double>(*key_count));
  }
  for (std::size_t i = 0; i < waiters.size(); ++i) waiters[i].done(std::move(answers[i]));
}

}  // namespace portcullis::auth::jwt
