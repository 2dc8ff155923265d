// A route's limits, compiled (see route_limits.h).
#include "ratelimit/route_limits.h"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "observe/metrics.h"

namespace portcullis::ratelimit {
namespace {

using config::RateLimitConfig;
using config::RateLimitCount;
using config::RateLimitKey;

constexpr std::string_view kSeries = "portcullis_rate_limit_requests_total";

CompiledLimit compile(const RateLimitConfig& limit) {
  CompiledLimit c;
  c.config = &limit;
  c.admitted_series =
      observe::Metrics::series_key(kSeries, {{"limit", limit.name}, {"result", "admitted"}});
  c.limited_series =
      observe::Metrics::series_key(kSeries, {{"limit", limit.name}, {"result", "limited"}});
  return c;
}

void add(const CompiledLimit& limit, std::string key, std::uint64_t requests, std::uint32_t per_s,
         std::vector<Check>& checks, std::vector<Applied>& applied) {
  checks.push_back({limit.config->name, std::move(key), requests, per_s});
  applied.push_back({&limit, requests, per_s, {}});
}

std::string keyed(std::string_view prefix, std::string_view value) {
  std::string k;
  k.reserve(prefix.size() + value.size());
  k += prefix;
  k += value;
  return k;
}

}  // namespace

RouteLimits::RouteLimits(const config::Config& config, const config::RouteConfig& route)
    : route_key_(keyed("route:", route.name)) {
  for (const auto& name : route.rate_limits) {
    auto it = config.rate_limits.find(name);
    if (it == config.rate_limits.end()) continue;  // the loader refuses such a route
    const RateLimitConfig& limit = it->second;
    if (limit.count == RateLimitCount::FailedAuth) {
      shield_.push_back(compile(limit));
    } else if (limit.before_auth()) {
      before_.push_back(compile(limit));
    } else {
      identity_.push_back(compile(limit));
    }
  }
}

void RouteLimits::shield_checks(std::string_view client_ip, std::vector<Check>& checks,
                                std::vector<Applied>& applied) const {
  for (const auto& l : shield_) {
    std::string key = l.config->key == RateLimitKey::Ip ? keyed("ip:", client_ip) : route_key_;
    add(l, std::move(key), l.config->requests, l.config->per_s, checks, applied);
  }
}

void RouteLimits::before_auth_checks(std::string_view client_ip, std::vector<Check>& checks,
                                     std::vector<Applied>& applied) const {
  for (const auto& l : before_) {
    std::string key = l.config->key == RateLimitKey::Ip ? keyed("ip:", client_ip) : route_key_;
    add(l, std::move(key), l.config->requests, l.config->per_s, checks, applied);
  }
}

void RouteLimits::identity_checks(const identity::Identity& who, std::vector<Check>& checks,
                                  std::vector<Applied>& applied) const {
  const auto& plan = who.rate_plan;
  const bool use_plan = plan && plan->requests > 0 && plan->per_s > 0;
  bool plan_used = false;
  for (const auto& l : identity_) {
    if (l.config->key == RateLimitKey::UserId) {
      if (!who.subject.empty()) {
        add(l, keyed("user_id:", who.subject), l.config->requests, l.config->per_s, checks,
            applied);
      }
      continue;
    }
    if (who.client_id.empty() || plan_used) continue;
    if (use_plan) {
      plan_used = true;
      add(l, keyed("client_id:", who.client_id), plan->requests, plan->per_s, checks, applied);
    } else {
      add(l, keyed("client_id:", who.client_id), l.config->requests, l.config->per_s, checks,
          applied);
    }
  }
}

void set_outcomes(std::vector<Applied>& applied, const std::vector<Outcome>& outcomes) {
  const std::size_t first = applied.size() - std::min(applied.size(), outcomes.size());
  for (std::size_t i = 0; i < outcomes.size() && first + i < applied.size(); ++i) {
    applied[first + i].outcome = outcomes[i];
  }
}

const Applied* first_refused(const std::vector<Applied>& applied) {
  for (const auto& a : applied) {
    if (!a.outcome.admitted) return &a;
  }
  return nullptr;
}

bool shows_headers(const std::vector<Applied>& applied) {
  return std::any_of(applied.begin(), applied.end(),
                     [](const Applied& a) { return a.limit->config->headers; });
}

namespace {

void append_number(std::string& out, std::uint64_t value) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, end);
}

// One field's list ("name";q=100;w=60, ... or "name";r=42;t=17, ...) appended to `out` in
// place: the fields are written on every answer of a limited route, so no temporaries.
void append_list(std::string& out, const std::vector<Applied>& applied, bool policy) {
  bool first = true;
  for (const auto& a : applied) {
    if (!a.limit->config->headers) continue;
    if (!first) out += ", ";
    first = false;
    out += '"';
    out += a.limit->config->name;
    out += policy ? "\";q=" : "\";r=";
    append_number(out, policy ? a.requests : a.outcome.remaining);
    out += policy ? ";w=" : ";t=";
    append_number(out, policy ? a.per_s : a.outcome.reset_s);
  }
}

}  // namespace

bool header_values(const std::vector<Applied>& applied, std::string& policy, std::string& state) {
  policy.clear();
  state.clear();
  if (!shows_headers(applied)) return false;
  append_list(policy, applied, true);
  append_list(state, applied, false);
  return true;
}

void append_header_lines(const std::vector<Applied>& applied, std::string& lines) {
  if (!shows_headers(applied)) return;
  lines += "RateLimit-Policy: ";
  append_list(lines, applied, true);
  lines += "\r\nRateLimit: ";
  append_list(lines, applied, false);
  lines += "\r\n";
}

}  // namespace portcullis::ratelimit
