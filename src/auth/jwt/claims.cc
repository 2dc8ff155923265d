#include "auth/jwt/claims.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cmath>
#include <limits>

#include "auth/jwt/describe.h"
#include "identity/rate_plan.h"
#include "jose/keys.h"

namespace portcullis::auth::jwt {

using jose::kMaxKidBytes;
using jose::is_none_alg;
using jose::parse_alg;
namespace {

namespace json = boost::json;
namespace d = describe;

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

const json::value* member(const json::object& o, std::string_view name) {
  auto it = o.find(name);
  return it == o.end() ? nullptr : &it->value();
}

// A dotted path ("realm_access.roles"); a claim whose own name has dots is found first.
const json::value* path(const json::object& o, std::string_view p) {
  if (const json::value* v = member(o, p)) return v;
  const json::object* cur = &o;
  while (true) {
    std::size_t dot = p.find('.');
    const json::value* v = member(*cur, p.substr(0, dot));
    if (v == nullptr || dot == std::string_view::npos) return v;
    if (!v->is_object()) return nullptr;
    cur = &v->get_object();
    p.remove_prefix(dot + 1);
  }
}

// A NumericDate (RFC 7519 §2): any JSON number, fractions dropped toward the safe side
// by the caller's comparisons (floor). Saturated to int64.
std::optional<std::int64_t> numeric_date(const json::value& v) {
  constexpr auto kMax = std::numeric_limits<std::int64_t>::max() / 2;
  constexpr auto kMin = std::numeric_limits<std::int64_t>::min() / 2;
  if (v.is_int64()) return std::clamp<std::int64_t>(v.get_int64(), kMin, kMax);
  if (v.is_uint64()) {
    return v.get_uint64() > static_cast<std::uint64_t>(kMax) ? kMax
                                                             : static_cast<std::int64_t>(v.get_uint64());
  }
  if (v.is_double()) {
    double x = std::floor(v.get_double());
    if (!std::isfinite(x)) return std::nullopt;
    if (x > static_cast<double>(kMax)) return kMax;
    if (x < static_cast<double>(kMin)) return kMin;
    return static_cast<std::int64_t>(x);
  }
  return std::nullopt;
}

using identity::has_control;

// Strings from a claim that is a space-separated string or an array of strings.
bool string_list(const json::value& v, std::vector<std::string>& out) {
  if (v.is_string()) {
    out = identity::split_scopes(std::string_view(v.get_string()));
    return true;
  }
  if (!v.is_array()) return false;
  for (const auto& item : v.get_array()) {
    if (!item.is_string()) return false;
    std::string_view s(item.get_string());
    if (s.empty()) continue;
    if (s.find(' ') != std::string_view::npos) return false;  // would split differently upstream
    out.emplace_back(s);
  }
  return true;
}

// Built with append (GCC 12 warns falsely on string + literal when inlined here).
Verdict claim_verdict(std::string_view prefix, std::string_view name) {
  Verdict v;
  v.status = Status::InvalidClaims;
  v.description.reserve(prefix.size() + name.size());
  v.description.append(prefix).append(name);
  return v;
}

Verdict bad_claim(std::string_view name) { return claim_verdict(d::kBadClaim, name); }

}  // namespace

std::string normalise_typ(std::string_view typ) {
  std::string t = lower(typ);
  if (t.starts_with("application/")) t.erase(0, 12);
  return t;
}

bool times_valid(const TokenTimes& t, std::int64_t now, std::int64_t skew) {
  if (t.exp && now >= *t.exp + skew) return false;
  if (t.nbf && now + skew < *t.nbf) return false;
  return true;
}

Verdict check_header(const json::object& header, const AlgSet& allowed, Alg& alg,
                     std::optional<std::string>& kid) {
  const json::value* a = member(header, "alg");
  if (a == nullptr || !a->is_string()) return Verdict::fail(Status::MalformedCredential, d::kNoAlg);
  std::string_view name(a->get_string());
  if (is_none_alg(name)) return Verdict::fail(Status::AlgorithmNotAllowed, d::kAlgNone);
  auto parsed = parse_alg(name);
  if (!parsed || !allowed.has(*parsed)) {
    return Verdict::fail(Status::AlgorithmNotAllowed, d::kAlgNotAllowed);
  }
  if (member(header, "crit") != nullptr) return Verdict::fail(Status::MalformedCredential, d::kCrit);
  kid.reset();
  if (const json::value* k = member(header, "kid")) {
    if (!k->is_string() || k->get_string().empty() || k->get_string().size() > kMaxKidBytes) {
      return Verdict::fail(Status::MalformedCredential, d::kBadKid);
    }
    kid = std::string(k->get_string());
  }
  alg = *parsed;
  return {};
}

Verdict check_typ(const json::object& header, const ClaimsPolicy& policy) {
  if (!policy.typ) return {};
  const json::value* typ = member(header, "typ");
  if (typ == nullptr || !typ->is_string() ||
      normalise_typ(std::string_view(typ->get_string())) != *policy.typ) {
    return Verdict::fail(Status::WrongTokenType, d::kTyp);
  }
  return {};
}

// Refresh and ID tokens never authorize API calls, whatever the provider's config: issuers
// that issue them as JWTs mark them in the payload (Keycloak: "typ": "Refresh" / "Offline" /
// "ID"; Amazon Cognito: "token_use": "refresh" / "id").
Verdict check_token_use(const json::object& payload) {
  for (const char* name : {"typ", "token_use"}) {
    const json::value* v = member(payload, name);
    if (v == nullptr || !v->is_string()) continue;
    const std::string kind = lower(std::string_view(v->get_string()));
    if (kind == "refresh" || kind == "offline" || kind == "refresh_token") {
      return Verdict::fail(Status::WrongTokenType, d::kRefreshToken);
    }
    if (kind == "id" || kind == "id_token") return Verdict::fail(Status::WrongTokenType, d::kIdToken);
  }
  return {};
}

Verdict check_claims(const json::object& payload, const ClaimsPolicy& policy, std::int64_t now,
                     TokenTimes& times) {
  if (Verdict v = check_token_use(payload); v.status != Status::Ok) return v;
  // Types first: a time claim that is not a number is refused whatever its value.
  for (auto [name, slot] : {std::pair{"exp", &times.exp}, std::pair{"nbf", &times.nbf},
                            std::pair{"iat", &times.iat}}) {
    const json::value* v = member(payload, name);
    if (v == nullptr) continue;
    *slot = numeric_date(*v);
    if (!*slot) return claim_verdict(d::kNotNumeric, name);
  }
  for (const auto& name : policy.required_claims) {
    const json::value* v = member(payload, name);
    if (v == nullptr || v->is_null()) {
      return claim_verdict(d::kMissingClaim, name);
    }
  }

  const json::value* iss = member(payload, "iss");
  if (iss == nullptr || !iss->is_string()) return Verdict::fail(Status::UnknownCredential, d::kNoIssuer);
  if (std::string_view(iss->get_string()) != policy.issuer) {
    return Verdict::fail(Status::UnknownCredential, d::kUnknownIssuer);
  }

  const std::int64_t skew = policy.clock_skew_s;
  if (times.exp && now >= *times.exp + skew) return Verdict::fail(Status::ExpiredCredential, d::kExpired);
  if (times.nbf && now + skew < *times.nbf) {
    return Verdict::fail(Status::CredentialNotYetValid, d::kNotYetValid);
  }
  if (times.iat && now + skew < *times.iat) {
    return Verdict::fail(Status::CredentialNotYetValid, d::kIssuedInFuture);
  }
  if (policy.max_lifetime_s) {
    // Lifetime from issue (or start of validity) to expiry; both must be known.
    std::optional<std::int64_t> start = times.iat ? times.iat : times.nbf;
    if (!times.exp) return claim_verdict(d::kMissingClaim, "exp");
    if (!start) return claim_verdict(d::kMissingClaim, "iat");
    if (*times.exp - *start > *policy.max_lifetime_s) {
      return Verdict::fail(Status::InvalidClaims, d::kLifetime);
    }
  }

  const json::value* aud = member(payload, "aud");
  if (aud == nullptr) return Verdict::fail(Status::WrongAudience, d::kNoAudience);
  auto accepted = [&](const json::value& v) {
    if (!v.is_string()) return false;
    std::string_view a(v.get_string());
    return std::find(policy.audiences.begin(), policy.audiences.end(), a) != policy.audiences.end();
  };
  bool match = false;
  if (aud->is_string()) {
    match = accepted(*aud);
  } else if (aud->is_array()) {
    for (const auto& a : aud->get_array()) {
      if (!a.is_string()) return Verdict::fail(Status::WrongAudience, d::kWrongAudience);
      match |= accepted(a);
    }
  }
  if (!match) return Verdict::fail(Status::WrongAudience, d::kWrongAudience);
  return {};
}

Verdict build_identity(const json::object& payload, const ClaimsPolicy& policy,
                       identity::Identity& out) {
  if (const json::value* sub = member(payload, "sub")) {
    if (!sub->is_string() || has_control(std::string_view(sub->get_string()))) return bad_claim("sub");
    out.subject = std::string(sub->get_string());
  }
  for (const char* name : {"client_id", "azp"}) {
    const json::value* v = member(payload, name);
    if (v == nullptr) continue;
    if (!v->is_string() || has_control(std::string_view(v->get_string()))) return bad_claim(name);
    out.client_id = std::string(v->get_string());
    break;
  }

  // Scopes: the configured claim, else "scope" (RFC 8693 §4.2, space-separated), else "scp".
  std::vector<std::string> scopes;
  if (!policy.scopes_claim.empty()) {
    if (const json::value* v = path(payload, policy.scopes_claim)) {
      if (!string_list(*v, scopes)) return bad_claim(policy.scopes_claim);
    }
  } else if (const json::value* v = member(payload, "scope")) {
    if (!string_list(*v, scopes)) return bad_claim("scope");
  } else if (const json::value* v2 = member(payload, "scp")) {
    if (!string_list(*v2, scopes)) return bad_claim("scp");
  }
  for (const auto& s : scopes) {
    if (has_control(s)) return bad_claim(policy.scopes_claim.empty() ? "scope" : policy.scopes_claim);
  }
  out.scopes = std::move(scopes);

  if (!policy.roles_claim.empty()) {
    if (const json::value* v = path(payload, policy.roles_claim)) {
      std::vector<std::string> roles;
      if (!string_list(*v, roles)) return bad_claim(policy.roles_claim);
      for (const auto& r : roles) {
        if (has_control(r)) return bad_claim(policy.roles_claim);
      }
      out.roles = std::move(roles);
    }
  }

  if (!policy.rate_limit_claim.empty()) {
    if (const json::value* v = path(payload, policy.rate_limit_claim)) {
      out.rate_plan = identity::rate_plan_from_json(*v);
      if (!out.rate_plan) {
        spdlog::debug(
            "jwt: claim '{}' is not a rate plan (\"1000/1m\" or {{requests, per}}); "
            "ignored, the route's limits apply",
            policy.rate_limit_claim);
      }
    }
  }

  for (const auto& [claim, header] : policy.claims_to_headers) {
    const json::value* v = path(payload, claim);
    if (v == nullptr || v->is_null()) continue;
    std::string text;
    if (v->is_string()) {
      text = std::string(v->get_string());
    } else if (v->is_number() || v->is_bool()) {
      text = json::serialize(*v);
    } else if (v->is_array()) {
      for (const auto& item : v->get_array()) {
        if (!item.is_string() && !item.is_number() && !item.is_bool()) return bad_claim(claim);
        if (!text.empty()) text += ',';
        text += item.is_string() ? std::string(item.get_string()) : json::serialize(item);
      }
    } else {
      return bad_claim(claim);
    }
    if (has_control(text)) return bad_claim(claim);
    if (!text.empty()) out.extra_headers.emplace_back(header, std::move(text));
  }
  return {};
}

}  // namespace portcullis::auth::jwt
