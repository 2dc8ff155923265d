// Shadow mode's decision (server/enforcement.h): which refusals a shadow route forwards, and
// with which identity; an enforcing route forwards none.
#include "server/enforcement.h"

#include <gtest/gtest.h>

namespace portcullis::server {
namespace {

using config::Enforcement;

Refusal auth_refusal(auth::Status s) {
  return Refusal::from_auth(s, "", "Bearer", "orders:read", "Bearer realm=\"portcullis\"");
}

TEST(WouldRefuse, AnEnforcingRouteForwardsNothing) {
  for (auto s : {auth::Status::MissingCredential, auth::Status::ExpiredCredential,
                 auth::Status::InsufficientScope, auth::Status::ProviderUnavailable}) {
    EXPECT_FALSE(would_refuse(Enforcement::Enforce, auth_refusal(s), false).forward);
    EXPECT_FALSE(would_refuse(Enforcement::Enforce, auth_refusal(s), true).forward);
  }
}

TEST(WouldRefuse, ShadowForwardsARefusedCredentialWithoutIdentity) {
  for (auto s : {auth::Status::MissingCredential, auth::Status::InvalidCredential,
                 auth::Status::ExpiredCredential, auth::Status::RevokedCredential,
                 auth::Status::SourceNotAllowed, auth::Status::AmbiguousCredential}) {
    const ShadowVerdict v = would_refuse(Enforcement::Shadow, auth_refusal(s), false);
    EXPECT_TRUE(v.forward) << auth::reason(s);
    EXPECT_FALSE(v.with_identity) << auth::reason(s);
  }
}

TEST(WouldRefuse, ShadowForwardsAPolicyRefusalWithTheAcceptedIdentity) {
  for (auto s : {auth::Status::InsufficientScope, auth::Status::MissingRole,
                 auth::Status::ClientNotAllowed}) {
    const ShadowVerdict v = would_refuse(Enforcement::Shadow, auth_refusal(s), true);
    EXPECT_TRUE(v.forward) << auth::reason(s);
    EXPECT_TRUE(v.with_identity) << auth::reason(s);
  }
}

TEST(WouldRefuse, ShadowForwardsAnUnavailableProviderWithoutIdentity) {
  for (auto s : {auth::Status::ProviderUnavailable, auth::Status::StoreUnavailable}) {
    const Refusal r = auth_refusal(s);
    EXPECT_EQ(r.status, 503u);
    const ShadowVerdict v = would_refuse(Enforcement::Shadow, r, false);
    EXPECT_TRUE(v.forward) << auth::reason(s);
    EXPECT_FALSE(v.with_identity) << auth::reason(s);
  }
}

TEST(WouldRefuse, TheGatewaysOwnRefusalsAreAnsweredInShadowToo) {
  for (auto e : {GatewayError::MalformedHead, GatewayError::LengthAndChunked,
                 GatewayError::TwoAuthorization, GatewayError::NoRoute, GatewayError::BodyTooLarge,
                 GatewayError::HeaderTooLarge, GatewayError::UnsafeIdentity,
                 GatewayError::UpstreamConnectFailed, GatewayError::UpstreamTimeout}) {
    const Refusal r = Refusal::from(e);
    EXPECT_FALSE(r.caller_verdict) << r.reason;
    EXPECT_FALSE(would_refuse(Enforcement::Shadow, r, true).forward) << r.reason;
  }
}

}  // namespace
}  // namespace portcullis::server
