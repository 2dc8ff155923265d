// A provider's remote JWK set, kept fresh in the background.
//
//  * Fetched asynchronously at start; until the first success ready() is false and lookups
//    answer NotReady (the gateway answers 503, never 401). Failed fetches are retried with
//    a backoff from 1 s up to jwks_min_refresh_s.
//  * Refreshed every jwks_refresh_s, or after the response's Cache-Control max-age, kept
//    within [jwks_min_refresh_s, jwks_max_refresh_s].
//  * A token whose kid is unknown triggers at most one refetch per jwks_refetch_cooldown_s;
//    concurrent misses share that fetch and every waiting request is answered when it ends.
//  * When fetches fail, the last good keys keep working for jwks_max_stale_s after their
//    fetch; then lookups answer Unavailable (503 jwks_unavailable) until a fetch succeeds.
//  * A refetch that fails leaves unknown kids answered as Unavailable rather than unknown: the
//    gateway cannot tell whether the issuer has rotated.
//
// Fetching, timers and the clock are injected, so tests drive all of this without sockets.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "auth/jwt/key_source.h"

namespace portcullis::auth::jwt {

struct FetchResult {
  bool ok = false;
  std::string body;                // the JWK set document
  std::optional<unsigned> max_age;  // from Cache-Control (0 for no-store / no-cache)
  std::string error;               // when !ok, for logs
};

// One asynchronous fetch of the JWK set; `done` runs exactly once, on any thread.
class JwksFetcher {
 public:
  virtual ~JwksFetcher() = default;
  virtual void fetch(std::function<void(FetchResult)> done) = 0;
};

// Runs `fn` once after `delay`, on any thread.
class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
};

using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

struct JwksOptions {
  std::string provider;  // name, for logs and metric labels
  std::chrono::seconds refresh{300};
  std::chrono::seconds min_refresh{30};
  std::chrono::seconds max_refresh{86400};
  std::chrono::seconds refetch_cooldown{10};
  std::chrono::seconds max_stale{86400};
};

class JwksCache : public KeySource, public std::enable_shared_from_this<JwksCache> {
 public:
  static std::shared_ptr<JwksCache> create(JwksOptions options,
                                           std::unique_ptr<JwksFetcher> fetcher,
                                           std::shared_ptr<Scheduler> scheduler,
                                           SteadyNow now = {});
  ~JwksCache() override;

  LookupResult try_lookup(std::optional<std::string_view> kid, Alg alg) override;
  void lookup_async(std::optional<std::string> kid, Alg alg,
                    std::function<void(LookupResult)> done) override;
  bool ready() const override;
  // No keys yet, or the last good ones are older than max_stale (lookups answer Unavailable).
  std::string_view not_ready_reason() const override;
  void start() override;

  // For metrics and tests.
  std::size_t key_count() const;
  std::optional<double> age_seconds() const;  // since the last successful fetch
  bool fetch_in_flight() const;
  const std::string& provider() const { return options_.provider; }

 private:
  JwksCache(JwksOptions options, std::unique_ptr<JwksFetcher> fetcher,
            std::shared_ptr<Scheduler> scheduler, SteadyNow now);

  struct Waiter {
    std::optional<std::string> kid;
    Alg alg;
    std::function<void(LookupResult)> done;
  };

  LookupResult lookup_in_memory(std::optional<std::string_view> kid, Alg alg);
  // All with mu_ held.
  bool stale_locked(std::chrono::steady_clock::time_point now) const;
  bool may_refetch_locked(std::chrono::steady_clock::time_point now) const;
  void start_fetch_locked(bool kid_miss);
  void schedule_locked(std::chrono::steady_clock::duration delay);
  LookupResult answer_locked(const std::optional<std::string_view>& kid, Alg alg,
                             std::chrono::steady_clock::time_point now) const;

  void on_fetched(FetchResult result);

  const JwksOptions options_;
  const std::unique_ptr<JwksFetcher> fetcher_;
  const std::shared_ptr<Scheduler> scheduler_;
  const SteadyNow now_;

  mutable std::mutex mu_;
  std::shared_ptr<const KeySet> keys_;  // null until the first successful fetch
  std::optional<std::chrono::steady_clock::time_point> fetched_at_;   // last success
  std::optional<std::chrono::steady_clock::time_point> kid_refetch_at_;  // last kid-miss fetch
  bool in_flight_ = false;
  bool started_ = false;
  bool last_failed_ = false;
  unsigned failures_ = 0;  // consecutive
  std::uint64_t timer_generation_ = 0;
  std::vector<Waiter> waiters_;
};

// Parses a Cache-Control header value: max-age in seconds, 0 for no-store/no-cache.
std::optional<unsigned> cache_control_max_age(std::string_view value);

}  // namespace portcullis::auth::jwt
