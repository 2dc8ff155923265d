// The session's rate-limit steps (runtime::RouteRuntime::limits, ratelimit/route_limits.h):
// the failed-auth shield and the ip/route limits before authentication, the failures
// recorded after a 401, the client_id/user_id limits after authentication and the policy.
// A refusal is GatewayError::RateLimited (429 with Retry-After), answered by reject().
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>

#include "observe/metrics.h"
#include "server/session_impl.h"

namespace portcullis::server {

// The shield and the ip/route limits, authentication and the policy (a 401 recorded by the
// shield), then the client_id/user_id limits.
asio::awaitable<std::optional<Refusal>> HttpSession::Impl::admit_limited(
    const runtime::Runtime& rt, const runtime::RouteRuntime& route, Request& req) {
  if (auto refusal = co_await limit_before_auth(rt, route)) co_return refusal;
  if (!route.chain.empty()) {
    if (auto refusal = co_await authenticate(route, req)) {
      if (refusal->status == 401) record_failed_auth(rt, route);
      // A 403 names its caller: its answer shows the caller's limits too (nothing taken).
      if (refusal->status == 403 && route.limits.has_identity()) {
        std::vector<ratelimit::Check> checks;
        route.limits.identity_checks(rq.who, checks, rq.limits);
        if (!checks.empty()) {
          auto outcomes = co_await ask_limiter(*rt.limiter, std::move(checks), true);
          ratelimit::set_outcomes(rq.limits, outcomes);
        }
      }
      co_return refusal;
    }
  }
  if (!route.limits.has_identity()) co_return std::nullopt;
  co_return co_await limit_identity(rt, route);
}

asio::awaitable<std::vector<ratelimit::Outcome>> HttpSession::Impl::ask_limiter(
    ratelimit::Limiter& limiter, std::vector<ratelimit::Check> checks, bool peek) {
  disarm();
  limit_wait.reset();
  if (peek) {
    limiter.peek(std::move(checks), limit_wait.callback());
  } else {
    limiter.admit(std::move(checks), limit_wait.callback());
  }
  if (!limit_wait.ready_now()) {
    const asio::any_io_executor ex = client.get_executor();
    co_await limit_wait.async_wait(ex, asio::use_awaitable);
  }
  co_return std::move(limit_wait.result());
}

// Counts the last `n` judged limits and turns a refusal among them into the 429.
std::optional<Refusal> HttpSession::Impl::judge_limits(std::size_t n) {
  auto& metrics = observe::Metrics::global();
  const std::size_t first = rq.limits.size() - std::min(n, rq.limits.size());
  bool refused = false;
  unsigned retry_after = 0;
  for (std::size_t i = first; i < rq.limits.size(); ++i) {
    const ratelimit::Applied& a = rq.limits[i];
    if (a.outcome.admitted) continue;
    refused = true;
    retry_after = std::max(retry_after, a.outcome.reset_s);
    if (rq.rate_limit.empty()) rq.rate_limit = a.limit->config->name;
    metrics.add_series(a.limit->limited_series);
  }
  if (!refused) {
    for (std::size_t i = first; i < rq.limits.size(); ++i) {
      metrics.add_series(rq.limits[i].limit->admitted_series);
    }
    return std::nullopt;
  }
  Refusal r = Refusal::from(GatewayError::RateLimited);
  r.retry_after_s = std::max(1u, retry_after);
  return r;
}

asio::awaitable<std::optional<Refusal>> HttpSession::Impl::limit_before_auth(
    const runtime::Runtime& rt, const runtime::RouteRuntime& route) {
  const ratelimit::RouteLimits& limits = route.limits;
  if (limits.has_shield()) {
    // Peeked only: a failure is taken after the 401 (record_failed_auth).
    std::vector<ratelimit::Check> checks;
    limits.shield_checks(rq.client_ip, checks, rq.limits);
    const std::size_t n = checks.size();
    auto outcomes = co_await ask_limiter(*rt.limiter, std::move(checks), true);
    ratelimit::set_outcomes(rq.limits, outcomes);
    if (auto refusal = judge_limits(n)) co_return refusal;
  }
  if (limits.has_before_auth()) {
    std::vector<ratelimit::Check> checks;
    limits.before_auth_checks(rq.client_ip, checks, rq.limits);
    const std::size_t n = checks.size();
    auto outcomes = co_await ask_limiter(*rt.limiter, std::move(checks), false);
    ratelimit::set_outcomes(rq.limits, outcomes);
    if (auto refusal = judge_limits(n)) co_return refusal;
  }
  co_return std::nullopt;
}

// A request that ended in 401 takes one from each failed_auth limit of its route.
void HttpSession::Impl::record_failed_auth(const runtime::Runtime& rt,
                                           const runtime::RouteRuntime& route) {
  std::vector<ratelimit::Check> checks;
  std::vector<ratelimit::Applied> ignored;
  route.limits.shield_checks(rq.client_ip, checks, ignored);
  for (auto& c : checks) {
    // What the answer's RateLimit field says about it: one fewer left.
    for (auto& a : rq.limits) {
      if (a.limit->config->name == c.limit && a.outcome.remaining > 0) --a.outcome.remaining;
    }
    rt.limiter->record(std::move(c));
  }
}

asio::awaitable<std::optional<Refusal>> HttpSession::Impl::limit_identity(
    const runtime::Runtime& rt, const runtime::RouteRuntime& route) {
  std::vector<ratelimit::Check> checks;
  route.limits.identity_checks(rq.who, checks, rq.limits);
  if (checks.empty()) co_return std::nullopt;
  const std::size_t n = checks.size();
  auto outcomes = co_await ask_limiter(*rt.limiter, std::move(checks), false);
  ratelimit::set_outcomes(rq.limits, outcomes);
  co_return judge_limits(n);
}

// The RateLimit fields for an answer the gateway writes itself (reject()).
void HttpSession::Impl::set_rate_limit_fields(http::response<http::string_body>& res,
                                              const Refusal& r) {
  if (r.retry_after_s > 0) res.set(http::field::retry_after, std::to_string(r.retry_after_s));
  if (rq.limits.empty()) return;
  std::string policy, state;
  if (!ratelimit::header_values(rq.limits, policy, state)) return;
  res.set("RateLimit-Policy", policy);
  res.set("RateLimit", state);
}

}  // namespace portcullis::server
