// RouteLimits: a route's `rate_limits`, compiled once per runtime and split by when they are
// judged: the failed-auth shield (peeked before any credential is checked, recorded after a
// 401), the limits keyed by ip or route (before authentication, so they also protect the key
// store and the identity providers) and those keyed by client_id or user_id (after
// authentication and the route policy: only requests that would be forwarded count). Turns a
// request into the limiter's checks, and the answers into RateLimit header fields
// (draft-ietf-httpapi-ratelimit-headers).
#pragma once

#include <boost/container/small_vector.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "identity/identity.h"
#include "ratelimit/limiter.h"

namespace portcullis::ratelimit {

struct CompiledLimit {
  const config::RateLimitConfig* config = nullptr;
  // portcullis_rate_limit_requests_total{limit,result}, keyed once (never per client).
  std::string admitted_series;
  std::string limited_series;
  // Its RateLimit-Policy item for its own budget ("name";q=100;w=60) and the start of its
  // RateLimit item ("name";r=), made once: the fields are written on every answer.
  std::string policy_item;
  std::string state_prefix;
  // The field lines up to its first number when it is the only limit shown (most routes):
  // "RateLimit-Policy: <policy_item>\r\nRateLimit: <state_prefix>".
  std::string single_head;
};

// One limit judged for one request: what the answer's headers, the metrics and the access
// log say about it.
struct Applied {
  const CompiledLimit* limit = nullptr;
  std::uint64_t requests = 0;  // the budget used (a per-client plan's, when one applied)
  std::uint32_t per_s = 0;
  Outcome outcome;
};

// A request's entries: a few limits at most, held inline (no allocation per request).
using AppliedList = boost::container::small_vector<Applied, 4>;

class RouteLimits {
 public:
  RouteLimits() = default;
  RouteLimits(const config::Config& config, const config::RouteConfig& route);

  bool empty() const { return shield_.empty() && before_.empty() && identity_.empty(); }
  bool has_shield() const { return !shield_.empty(); }
  bool has_before_auth() const { return !before_.empty(); }
  bool has_identity() const { return !identity_.empty(); }

  // Each sets `checks` to its checks (reusing the vector's elements and their strings' buffers:
  // nothing allocated once they are warm) and adds a matching entry to `applied` per check
  // (outcome unset).
  void shield_checks(std::string_view client_ip, std::vector<Check>& checks,
                     AppliedList& applied) const;
  void before_auth_checks(std::string_view client_ip, std::vector<Check>& checks,
                          AppliedList& applied) const;
  // A per-client plan (Identity::rate_plan) takes the place of the client_id limits: the
  // first keeps its name and takes the plan's budget and window, the others are left out.
  // A user_id limit does not apply to a caller without a user (a machine client).
  void identity_checks(const identity::Identity& who, std::vector<Check>& checks,
                       AppliedList& applied) const;

 private:
  std::string route_key_;  // "route:<name>"
  // The checks of limits keyed by the client's address or by the route (before auth).
  void address_checks(const std::vector<CompiledLimit>& limits, std::string_view client_ip,
                      std::vector<Check>& checks, AppliedList& applied) const;

  std::vector<CompiledLimit> shield_, before_, identity_;
};

// Copies the outcomes into the last outcomes.size() entries of `applied`.
void set_outcomes(AppliedList& applied, const std::vector<Outcome>& outcomes);
// The first refused entry, or null.
const Applied* first_refused(const AppliedList& applied);
// Whether any entry's limit shows headers (then the gateway's fields replace the upstream's).
bool shows_headers(const AppliedList& applied);
// The RateLimit-Policy and RateLimit field values for the entries whose limit shows headers,
// one list item per limit in the order judged; false (and nothing set) when none does.
bool header_values(const AppliedList& applied, std::string& policy, std::string& state);
// The same as ready lines: "RateLimit-Policy: ...\r\nRateLimit: ...\r\n".
void append_header_lines(const AppliedList& applied, std::string& lines);

}  // namespace portcullis::ratelimit
