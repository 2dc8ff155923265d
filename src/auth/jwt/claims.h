// The checks on a JWT's header and claims after its signature verified (RFC 7519 §7.2,
// RFC 9068 for typ at+jwt), and the Identity built from the claims. Pure functions of the
// token, the provider's policy and the time, so tests drive them with any clock.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jose/algorithms.h"
#include "auth/status.h"
#include "identity/identity.h"

namespace portcullis::auth::jwt {

// The JOSE vocabulary (src/jose/) the mechanism is written in.
using jose::Alg;
using jose::AlgSet;

struct ClaimsPolicy {
  std::string issuer;
  std::vector<std::string> audiences;
  std::int64_t clock_skew_s = 60;
  std::vector<std::string> required_claims{"exp"};
  std::optional<std::int64_t> max_lifetime_s;
  std::optional<std::string> typ;      // normalised: lower case, without "application/"
  std::string scopes_claim;            // empty: scope (string) or scp (string or array)
  std::string roles_claim;             // dotted path; empty: no roles
  std::string rate_limit_claim;        // dotted path to the token's rate plan; empty: none
  std::vector<std::pair<std::string, std::string>> claims_to_headers;
};

struct Verdict {
  Status status = Status::Ok;
  std::string description;
  bool ok() const { return status == Status::Ok; }
  static Verdict fail(Status s, std::string_view d) { return {s, std::string(d)}; }
};

// exp / nbf as seconds since the epoch, once checked (for the token cache).
struct TokenTimes {
  std::optional<std::int64_t> exp;
  std::optional<std::int64_t> nbf;
  std::optional<std::int64_t> iat;
};

// "at+jwt", "application/at+jwt", "AT+JWT" -> "at+jwt".
std::string normalise_typ(std::string_view typ);

// The JOSE header: alg present, not none, in the allow-list; no crit (no extension is
// understood, so any critical one is refused); kid, when present, a string of at most
// kMaxKidBytes. jku, x5u, jwk and x5c are never looked at.
Verdict check_header(const boost::json::object& header, const AlgSet& allowed, Alg& alg,
                     std::optional<std::string>& kid);

// The header's typ against the policy (only when the policy names one).
Verdict check_typ(const boost::json::object& header, const ClaimsPolicy& policy);
// iss, aud, exp/nbf/iat (numbers, with the skew), required claims, lifetime.
Verdict check_claims(const boost::json::object& payload, const ClaimsPolicy& policy,
                     std::int64_t now, TokenTimes& times);
// sub, client_id/azp, scopes, roles, the rate plan and claims_to_headers; refuses values
// that cannot be forwarded as header values (control characters). A rate_limit_claim whose
// value is not a plan is ignored (logged at debug): the route's own limits still apply.
Verdict build_identity(const boost::json::object& payload, const ClaimsPolicy& policy,
                       identity::Identity& out);

// Whether a cached token is still inside its exp/nbf (with the skew).
bool times_valid(const TokenTimes& t, std::int64_t now, std::int64_t skew);

}  // namespace portcullis::auth::jwt
