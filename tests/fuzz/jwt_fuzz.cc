// Fuzzes the JWT decoder and the claim checks (jose/token.h, auth/jwt/claims.h). An input
// that splits into three parts is decoded as a compact JWS; any input is also read as a JSON
// payload (jose/strict_json.h), so the claim checks see arbitrary objects without the fuzzer
// having to discover base64url first. No signature is checked: the claim checks run on
// whatever decoded, as they would after a verified signature.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "auth/jwt/claims.h"
#include "identity/identity.h"
#include "identity/rate_plan.h"
#include "jose/strict_json.h"
#include "jose/token.h"

using namespace portcullis;
namespace jwt = portcullis::auth::jwt;

namespace {

constexpr std::int64_t kNow = 1'800'000'000;

const jwt::ClaimsPolicy& strict_policy() {
  static const jwt::ClaimsPolicy p = [] {
    jwt::ClaimsPolicy p;
    p.issuer = "https://idp.example";
    p.audiences = {"orders", "billing"};
    p.required_claims = {"exp", "sub", "iat"};
    p.max_lifetime_s = 3600;
    p.typ = "at+jwt";
    p.roles_claim = "realm_access.roles";
    p.rate_limit_claim = "plan";
    p.claims_to_headers = {{"tenant", "X-Tenant"}, {"org.id", "X-Org"}};
    return p;
  }();
  return p;
}

const jwt::ClaimsPolicy& lenient_policy() {
  static const jwt::ClaimsPolicy p = [] {
    jwt::ClaimsPolicy p;
    p.issuer = "https://idp.example";
    p.required_claims = {};
    p.scopes_claim = "permissions";
    p.rate_limit_claim = "ext.plan";
    return p;
  }();
  return p;
}

void check_payload(const boost::json::object& payload) {
  for (const jwt::ClaimsPolicy* p : {&strict_policy(), &lenient_policy()}) {
    jwt::TokenTimes times;
    const jwt::Verdict v = jwt::check_claims(payload, *p, kNow, times);
    if (v.ok()) (void)jwt::times_valid(times, kNow, p->clock_skew_s);
    identity::Identity id;
    if (jwt::build_identity(payload, *p, id).ok() && !id.header_safe()) __builtin_trap();
    if (id.rate_plan) {
      const identity::RatePlan plan = *id.rate_plan;
      // Within the grammar's bounds, and its text reads back as the same plan.
      if (plan.requests == 0 || plan.per_s == 0 ||
          identity::parse_rate_plan(identity::to_string(plan)) != plan) {
        __builtin_trap();
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  if (jose::looks_like_jws(input)) {
    jose::Token token;
    if (jose::parse_token(input, 16 * 1024, token) == jose::TokenError::None) {
      jose::AlgSet all;
      for (jose::Alg a : jose::kAllAlgs) all.add(a);
      jose::Alg alg{};
      std::optional<std::string> kid;
      (void)jwt::check_header(token.header, all, alg, kid);
      (void)jwt::check_typ(token.header, strict_policy());
      check_payload(token.payload);
    }
  }

  boost::json::object payload;
  if (jose::parse_strict_object(input, payload) == jose::JsonError::None) check_payload(payload);
  return 0;
}
