// A route's limits, compiled (see route_limits.h).
#include "ratelimit/route_limits.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "observe/metrics.h"

namespace portcullis::ratelimit {
namespace {

using config::RateLimitConfig;
using config::RateLimitCount;
using config::RateLimitKey;

constexpr std::string_view kSeries = "portcullis_rate_limit_requests_total";

// `value` in decimal, written two digits at a time leftwards so that it ends at `end`; returns
// where it starts (the fields' numbers are written on every answer of a limited route).
char* write_number(char* end, std::uint64_t value) {
  static constexpr char kPairs[] =
      "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
      "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
      "8081828384858687888990919293949596979899";
  char* p = end;
  while (value >= 100) {
    const std::uint64_t pair = value % 100;
    value /= 100;
    p -= 2;
    std::memcpy(p, kPairs + 2 * pair, 2);
  }
  if (value >= 10) {
    p -= 2;
    std::memcpy(p, kPairs + 2 * value, 2);
  } else {
    *--p = static_cast<char>('0' + value);
  }
  return p;
}

void append_number(std::string& out, std::uint64_t value) {
  char digits[20];
  char* end = digits + sizeof digits;
  out.append(write_number(end, value), end);
}

// The same string made of `a` then `b`, in place: no allocation once `s` has grown.
void set_joined(std::string& s, std::string_view a, std::string_view b) {
  s.resize(a.size() + b.size());
  if (!a.empty()) std::memcpy(s.data(), a.data(), a.size());
  if (!b.empty()) std::memcpy(s.data() + a.size(), b.data(), b.size());
}

void append_policy_item(std::string& out, std::string_view name, std::uint64_t requests,
                        std::uint32_t per_s) {
  out += '"';
  out += name;
  out += "\";q=";
  append_number(out, requests);
  out += ";w=";
  append_number(out, per_s);
}

CompiledLimit compile(const RateLimitConfig& limit) {
  CompiledLimit c;
  c.config = &limit;
  c.admitted_series =
      observe::Metrics::series_key(kSeries, {{"limit", limit.name}, {"result", "admitted"}});
  c.limited_series =
      observe::Metrics::series_key(kSeries, {{"limit", limit.name}, {"result", "limited"}});
  append_policy_item(c.policy_item, limit.name, limit.requests, limit.per_s);
  c.state_prefix = '"' + limit.name + "\";r=";
  c.single_head = "RateLimit-Policy: " + c.policy_item + "\r\nRateLimit: " + c.state_prefix;
  return c;
}

// Sets a stage's checks in place: the vector's elements are reused, their strings assigned
// (no allocation once they have grown to the keys' length).
class Filler {
 public:
  Filler(std::vector<Check>& checks, AppliedList& applied) : checks_(checks), applied_(applied) {}
  Filler(const Filler&) = delete;
  Filler& operator=(const Filler&) = delete;
  ~Filler() { checks_.resize(used_); }

  // The key is `prefix` followed by `value`.
  void add(const CompiledLimit& limit, std::string_view prefix, std::string_view value,
           std::uint64_t requests, std::uint32_t per_s) {
    if (used_ == checks_.size()) checks_.emplace_back();
    Check& c = checks_[used_++];
    set_joined(c.limit, limit.config->name, {});
    set_joined(c.key, prefix, value);
    c.requests = requests;
    c.per_s = per_s;
    applied_.push_back({&limit, requests, per_s, {}});
  }

 private:
  std::vector<Check>& checks_;
  AppliedList& applied_;
  std::size_t used_ = 0;
};

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
                                AppliedList& applied) const {
  address_checks(shield_, client_ip, checks, applied);
}

void RouteLimits::before_auth_checks(std::string_view client_ip, std::vector<Check>& checks,
                                     AppliedList& applied) const {
  address_checks(before_, client_ip, checks, applied);
}

void RouteLimits::address_checks(const std::vector<CompiledLimit>& limits,
                                 std::string_view client_ip, std::vector<Check>& checks,
                                 AppliedList& applied) const {
  Filler fill(checks, applied);
  for (const auto& l : limits) {
    if (l.config->key == RateLimitKey::Ip) {
      fill.add(l, "ip:", client_ip, l.config->requests, l.config->per_s);
    } else {
      fill.add(l, route_key_, {}, l.config->requests, l.config->per_s);
    }
  }
}

void RouteLimits::identity_checks(const identity::Identity& who, std::vector<Check>& checks,
                                  AppliedList& applied) const {
  Filler fill(checks, applied);
  const auto& plan = who.rate_plan;
  const bool use_plan = plan && plan->requests > 0 && plan->per_s > 0;
  bool plan_used = false;
  for (const auto& l : identity_) {
    if (l.config->key == RateLimitKey::UserId) {
      if (!who.subject.empty()) {
        fill.add(l, "user_id:", who.subject, l.config->requests, l.config->per_s);
      }
      continue;
    }
    if (who.client_id.empty() || plan_used) continue;
    if (use_plan) {
      plan_used = true;
      fill.add(l, "client_id:", who.client_id, plan->requests, plan->per_s);
    } else {
      fill.add(l, "client_id:", who.client_id, l.config->requests, l.config->per_s);
    }
  }
}

void set_outcomes(AppliedList& applied, const std::vector<Outcome>& outcomes) {
  const std::size_t first = applied.size() - std::min(applied.size(), outcomes.size());
  for (std::size_t i = 0; i < outcomes.size() && first + i < applied.size(); ++i) {
    applied[first + i].outcome = outcomes[i];
  }
}

const Applied* first_refused(const AppliedList& applied) {
  for (const auto& a : applied) {
    if (!a.outcome.admitted) return &a;
  }
  return nullptr;
}

bool shows_headers(const AppliedList& applied) {
  return std::any_of(applied.begin(), applied.end(),
                     [](const Applied& a) { return a.limit->config->headers; });
}

namespace {

// One field's list ("name";q=100;w=60, ... or "name";r=42;t=17, ...) appended to `out` in
// place: the fields are written on every answer of a limited route, so no temporaries.
void append_list(std::string& out, const AppliedList& applied, bool policy) {
  bool first = true;
  for (const auto& a : applied) {
    const CompiledLimit& l = *a.limit;
    if (!l.config->headers) continue;
    if (!first) out += ", ";
    first = false;
    if (!policy) {
      out += l.state_prefix;
      append_number(out, a.outcome.remaining);
      out += ";t=";
      append_number(out, a.outcome.reset_s);
    } else if (a.requests == l.config->requests && a.per_s == l.config->per_s) {
      out += l.policy_item;
    } else {  // a per-client plan's budget
      append_policy_item(out, l.config->name, a.requests, a.per_s);
    }
  }
}

}  // namespace

bool header_values(const AppliedList& applied, std::string& policy, std::string& state) {
  policy.clear();
  state.clear();
  if (!shows_headers(applied)) return false;
  append_list(policy, applied, true);
  append_list(state, applied, false);
  return true;
}

void append_header_lines(const AppliedList& applied, std::string& lines) {
  if (applied.size() == 1) {  // one limit (most routes): its ready-made head, then the numbers
    const Applied& a = applied.front();
    const CompiledLimit& l = *a.limit;
    if (!l.config->headers) return;
    if (a.requests == l.config->requests && a.per_s == l.config->per_s) {
      char tail[48];  // "<remaining>;t=<reset>\r\n", written leftwards
      char* end = tail + sizeof tail;
      char* p = end - 2;
      std::memcpy(p, "\r\n", 2);
      p = write_number(p, a.outcome.reset_s) - 3;
      std::memcpy(p, ";t=", 3);
      p = write_number(p, a.outcome.remaining);
      lines += l.single_head;
      lines.append(p, end);
      return;
    }
  }
  if (!shows_headers(applied)) return;
  lines += "RateLimit-Policy: ";
  append_list(lines, applied, true);
  lines += "\r\nRateLimit: ";
  append_list(lines, applied, false);
  lines += "\r\n";
}

}  // namespace portcullis::ratelimit
