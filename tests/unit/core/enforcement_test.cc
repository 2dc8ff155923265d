// Shadow mode's decision (server/enforcement.h): which refusals a shadow route forwards
// (an enforcing route forwards none), and which identity a forwarded request carries.
#include "server/enforcement.h"

#include <gtest/gtest.h>

namespace portcullis::server {
namespace {

using config::Enforcement;

Refusal auth_refusal(auth::Status s) {
  return Refusal::from_auth(s, "", "Bearer", "orders:read", "Bearer realm=\"portcullis\"");
}

constexpr auth::Status kCallerVerdicts[] = {
    auth::Status::MissingCredential,   auth::Status::InvalidCredential,
    auth::Status::ExpiredCredential,   auth::Status::RevokedCredential,
    auth::Status::AmbiguousCredential, auth::Status::SourceNotAllowed,
    auth::Status::RouteNotAllowed,     auth::Status::InsufficientScope,
    auth::Status::MissingRole,         auth::Status::ClientNotAllowed,
    auth::Status::ProviderUnavailable, auth::Status::StoreUnavailable,
};

TEST(WouldRefuse, AnEnforcingRouteForwardsNothing) {
  for (auto s : kCallerVerdicts) {
    EXPECT_FALSE(would_refuse(Enforcement::Enforce, auth_refusal(s))) << auth::reason(s);
  }
}

TEST(WouldRefuse, ShadowForwardsEveryAuthenticationAndPolicyVerdict) {
  for (auto s : kCallerVerdicts) {
    const Refusal r = auth_refusal(s);
    EXPECT_TRUE(r.caller_verdict) << auth::reason(s);
    EXPECT_TRUE(would_refuse(Enforcement::Shadow, r)) << auth::reason(s);
  }
  // The identity provider or key store down: 503 in enforce, forwarded in shadow.
  EXPECT_EQ(auth_refusal(auth::Status::ProviderUnavailable).status, 503u);
}

TEST(WouldRefuse, ShadowForwardsARateLimitVerdict) {
  Refusal r = Refusal::from(GatewayError::RateLimited);
  EXPECT_FALSE(would_refuse(Enforcement::Shadow, r));  // only as the limiter step marks it
  r.caller_verdict = true;
  EXPECT_TRUE(would_refuse(Enforcement::Shadow, r));
  EXPECT_FALSE(would_refuse(Enforcement::Enforce, r));
}

TEST(WouldRefuse, TheGatewaysOwnRefusalsAreAnsweredInShadowToo) {
  for (auto e : {GatewayError::MalformedHead, GatewayError::LengthAndChunked,
                 GatewayError::TwoAuthorization, GatewayError::NoRoute, GatewayError::BodyTooLarge,
                 GatewayError::HeaderTooLarge, GatewayError::UnsafeIdentity,
                 GatewayError::UpstreamConnectFailed, GatewayError::UpstreamTimeout}) {
    const Refusal r = Refusal::from(e);
    EXPECT_FALSE(r.caller_verdict) << r.reason;
    EXPECT_FALSE(would_refuse(Enforcement::Shadow, r)) << r.reason;
  }
}

TEST(ForwardsIdentity, OnlyAnAcceptedCredentialsIdentity) {
  EXPECT_TRUE(forwards_identity(true, true));    // accepted (a policy refusal in shadow too)
  EXPECT_FALSE(forwards_identity(true, false));  // refused, missing, not checkable
  EXPECT_TRUE(forwards_identity(false, false));  // auth: none (the identity is empty)
}

}  // namespace
}  // namespace portcullis::server
