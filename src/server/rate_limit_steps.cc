// The session's rate-limit steps (runtime::RouteRuntime::limits, ratelimit/route_limits.h):
// the failed-auth shield and the ip/route limits before authentication, the failures
// recorded after a 401, the client_id/user_id limits after authentication and the policy.
// A refusal is GatewayError::RateLimited (429 with Retry-After), answered by reject(); each
// verdict (429, 401, 403) passes shadow_pass() first, so a route in shadow mode forwards it.
#include <algorithm>
#include <boost/asio/use_awaitable.hpp>

#include "observe/metrics.h"
#include "ratelimit/pending_attempts.h"
#include "server/session_impl.h"

namespace portcullis::server {

// The whole of admit_limited when nothing waits: no authentication, and a limiter that
// answers on the spot (the in-process store). No coroutine frame, no callback.
bool HttpSession::Impl::admit_limited_now(const runtime::Runtime& rt,
                                          const runtime::RouteRuntime& route,
                                          std::optional<Refusal>& refusal) {
  if (!route.chain.empty()) return false;
  if (!limit_before_auth_now(rt, route, refusal)) return false;
  shield_hold.reset();  // no authentication to wait for
  if (refusal && shadow_pass(route, *refusal)) refusal.reset();
  return true;  // without authentication no identity is accepted: no identity limits
}

// The shield and the ip/route limits, authentication and the policy (a 401 recorded by the
// shield), then the client_id/user_id limits. On a shadow route a refusal goes on to the next
// step (shadow_pass); the identity limits apply only to an identity that is forwarded.
asio::awaitable<std::optional<Refusal>> HttpSession::Impl::admit_limited(
    const runtime::Runtime& rt, const runtime::RouteRuntime& route, Request& req) {
  std::optional<Refusal> before;
  if (!limit_before_auth_now(rt, route, before)) before = co_await limit_before_auth(rt, route);
  if (before && !shadow_pass(route, *before)) {
    shield_hold.reset();
    co_return before;
  }
  if (!route.chain.empty()) {
    // The attempt the shield admitted counts until authentication answers (shield_hold, taken
    // where the shield judged it: a shared limiter may have suspended us since).
    if (!ask_auth(route, req)) co_await await_auth();
    shield_hold.reset();
    if (auto refusal = auth_verdict(route)) {
      if (refusal->status == 401) record_failed_auth(rt, route);
      // A 403 names its caller: its answer shows the caller's limits too (nothing taken).
      if (refusal->status == 403 && route.limits.has_identity()) {
        route.limits.identity_checks(rq.who(), limit_checks, rq.limits);
        if (!limit_checks.empty()) {
          if (!ask_limiter_now(*rt.limiter, true)) co_await ask_limiter(*rt.limiter, true);
          ratelimit::set_outcomes(rq.limits, limit_outcomes);
        }
      }
      if (!shadow_pass(route, *refusal)) co_return refusal;
    }
  }
  if (!route.limits.has_identity() || !rq.credential_accepted) co_return std::nullopt;
  auto refusal = co_await limit_identity(rt, route);
  if (refusal && !shadow_pass(route, *refusal)) co_return refusal;
  co_return std::nullopt;
}

bool HttpSession::Impl::ask_limiter_now(ratelimit::Limiter& limiter, bool peek) {
  return peek ? limiter.peek_inline(limit_checks, limit_outcomes)
              : limiter.admit_inline(limit_checks, limit_outcomes);
}

asio::awaitable<void> HttpSession::Impl::ask_limiter(ratelimit::Limiter& limiter, bool peek) {
  disarm();
  limit_wait.reset();
  std::vector<ratelimit::Check> checks(limit_checks);  // the limiter keeps them while it waits
  if (peek) {
    limiter.peek(std::move(checks), limit_wait.callback());
  } else {
    limiter.admit(std::move(checks), limit_wait.callback());
  }
  if (!limit_wait.ready_now()) {
    const asio::any_io_executor ex = client.get_executor();
    co_await limit_wait.async_wait(ex, asio::use_awaitable);
  }
  limit_outcomes = std::move(limit_wait.result());
}

std::optional<Refusal> HttpSession::Impl::take_outcomes() {
  ratelimit::set_outcomes(rq.limits, limit_outcomes);
  return judge_limits(limit_checks.size());
}

// The shield's peeked outcomes, with the attempts still waiting for authentication counted as
// failures (ratelimit/pending_attempts.h): admitted while failures + waiting < requests.
std::optional<Refusal> HttpSession::Impl::take_shield_outcomes() {
  ratelimit::set_outcomes(rq.limits, limit_outcomes);
  auto& pending = ratelimit::PendingAttempts::global();
  const std::size_t first = rq.limits.size() - std::min(limit_checks.size(), rq.limits.size());
  for (std::size_t i = 0; i < limit_checks.size() && first + i < rq.limits.size(); ++i) {
    ratelimit::Outcome& o = rq.limits[first + i].outcome;
    const std::uint64_t waiting = pending.waiting(limit_checks[i]);
    if (waiting == 0) continue;
    o.remaining = o.remaining > waiting ? o.remaining - waiting : 0;
    if (o.remaining == 0) o.admitted = false;
  }
  auto refusal = judge_limits(limit_checks.size());
  // Admitted: this attempt counts from now until authentication answers (admit_limited),
  // with no suspension between the look and the count.
  if (!refusal) shield_hold.emplace(pending, limit_checks);
  return refusal;
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
  r.caller_verdict = true;  // a route in shadow mode forwards it (server/enforcement.h)
  return r;
}

// The shield and the ip/route limits as far as the limiter answers on the spot: true when
// all are judged (`refusal` set when one refused); false when the rest must wait
// (limit_before_auth goes on from there: a shield already judged is not asked again).
bool HttpSession::Impl::limit_before_auth_now(const runtime::Runtime& rt,
                                              const runtime::RouteRuntime& route,
                                              std::optional<Refusal>& refusal) {
  const ratelimit::RouteLimits& limits = route.limits;
  ratelimit::Limiter& limiter = *rt.limiter;
  const auto unanswered = [this] {  // the step's entries come off: it is asked again
    rq.limits.resize(rq.limits.size() - std::min(limit_checks.size(), rq.limits.size()));
    return false;
  };
  if (limits.has_shield() && !rq.shield_judged) {
    // Peeked only: a failure is taken after the 401 (record_failed_auth).
    limits.shield_checks(rq.client_ip, limit_checks, rq.limits);
    if (!ask_limiter_now(limiter, true)) return unanswered();
    rq.shield_judged = true;
    if ((refusal = take_shield_outcomes())) return true;
  }
  if (limits.has_before_auth()) {
    limits.before_auth_checks(rq.client_ip, limit_checks, rq.limits);
    if (!ask_limiter_now(limiter, false)) return unanswered();
    refusal = take_outcomes();
  }
  return true;
}

// The same, waiting for a limiter that cannot answer on the spot (a shared store).
asio::awaitable<std::optional<Refusal>> HttpSession::Impl::limit_before_auth(
    const runtime::Runtime& rt, const runtime::RouteRuntime& route) {
  const ratelimit::RouteLimits& limits = route.limits;
  if (limits.has_shield() && !rq.shield_judged) {
    limits.shield_checks(rq.client_ip, limit_checks, rq.limits);
    co_await ask_limiter(*rt.limiter, true);
    rq.shield_judged = true;
    if (auto refusal = take_shield_outcomes()) co_return refusal;
  }
  if (limits.has_before_auth()) {
    limits.before_auth_checks(rq.client_ip, limit_checks, rq.limits);
    co_await ask_limiter(*rt.limiter, false);
    co_return take_outcomes();
  }
  co_return std::nullopt;
}

// A request that ended in 401 takes one from each failed_auth limit of its route.
void HttpSession::Impl::record_failed_auth(const runtime::Runtime& rt,
                                           const runtime::RouteRuntime& route) {
  std::vector<ratelimit::Check> checks;
  ratelimit::AppliedList ignored;
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
  route.limits.identity_checks(rq.who(), limit_checks, rq.limits);
  if (limit_checks.empty()) co_return std::nullopt;
  if (!ask_limiter_now(*rt.limiter, false)) co_await ask_limiter(*rt.limiter, false);
  co_return take_outcomes();
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
