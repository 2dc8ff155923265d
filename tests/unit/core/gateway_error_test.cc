// The gateway's refusal table (server/gateway_error.h) and the auth refusals built from
// auth/status.cc: status codes, bodies, challenges.
#include "server/gateway_error.h"

#include <gtest/gtest.h>

namespace portcullis::server {
namespace {

TEST(GatewayErrorTest, LimitsAndTimeoutsHaveTheirStatus) {
  EXPECT_EQ(info(GatewayError::HeaderTooLarge).status, 431u);
  EXPECT_EQ(info(GatewayError::HeaderTimeout).status, 408u);
  EXPECT_EQ(info(GatewayError::BodyTimeout).status, 408u);
  EXPECT_EQ(info(GatewayError::BodyTooLarge).status, 413u);
  EXPECT_EQ(info(GatewayError::NoRoute).status, 404u);
  EXPECT_EQ(info(GatewayError::UpstreamConnectFailed).status, 502u);
  EXPECT_EQ(info(GatewayError::UpstreamReadFailed).status, 502u);
  EXPECT_EQ(info(GatewayError::UpstreamTimeout).status, 504u);
  EXPECT_EQ(info(GatewayError::UpstreamConnectTimeout).status, 504u);
  EXPECT_EQ(info(GatewayError::UpstreamTls).status, 502u);
  EXPECT_EQ(info(GatewayError::UpstreamTls).reason, "upstream_tls");
  EXPECT_EQ(info(GatewayError::UnsafeIdentity).status, 500u);
}

TEST(GatewayErrorTest, EveryRowIsComplete) {
  for (int i = 0; i <= static_cast<int>(GatewayError::DrainTimeout); ++i) {
    const auto& row = info(static_cast<GatewayError>(i));
    EXPECT_GE(row.status, 400u) << i;
    EXPECT_FALSE(row.error.empty()) << i;
    EXPECT_FALSE(row.description.empty()) << i;
    EXPECT_FALSE(row.reason.empty()) << i;
  }
}

TEST(GatewayErrorTest, SmugglingAttemptsCloseTheConnection) {
  for (auto e : {GatewayError::LengthAndChunked, GatewayError::UnsupportedEncoding,
                 GatewayError::ConflictingLength}) {
    EXPECT_EQ(info(e).status, 400u);
    EXPECT_EQ(info(e).reason, "smuggling");
    EXPECT_TRUE(info(e).close);
    EXPECT_EQ(info(e).counter, Counter::BadRequest);
  }
  // A 404 leaves a keep-alive connection usable.
  EXPECT_FALSE(info(GatewayError::NoRoute).close);
}

TEST(GatewayErrorTest, RateLimitedIs429AndKeepsTheConnection) {
  const Refusal r = Refusal::from(GatewayError::RateLimited);
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.error, "rate_limited");
  EXPECT_EQ(r.reason, "rate_limited");
  EXPECT_FALSE(r.close);
  EXPECT_EQ(r.retry_after_s, 0u);  // set by the session from the refusing window
}

TEST(GatewayErrorTest, UpstreamFailuresAreCountedAsSuch) {
  const Refusal r = Refusal::from(GatewayError::UpstreamWriteFailed);
  EXPECT_EQ(r.status, 502u);
  EXPECT_EQ(r.error, "bad_gateway");
  EXPECT_EQ(r.reason, "upstream_write_failed");
  EXPECT_EQ(r.counter, Counter::UpstreamError);
  EXPECT_TRUE(r.challenge.empty());
}

TEST(GatewayErrorTest, MissingCredentialGetsTheRoutesChallengeAndNoErrorCode) {
  const Refusal r = Refusal::from_auth(auth::Status::MissingCredential, "", "Bearer", "",
                                       "ApiKey realm=\"portcullis\", Bearer realm=\"portcullis\"");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.error, "unauthorized");
  EXPECT_EQ(r.description, "no credential was presented");
  EXPECT_EQ(r.challenge, "ApiKey realm=\"portcullis\", Bearer realm=\"portcullis\"");
  EXPECT_EQ(r.counter, Counter::AuthFailure);
  EXPECT_FALSE(r.close);
}

TEST(GatewayErrorTest, InvalidTokenChallengeCarriesErrorAndDescription) {
  const Refusal r =
      Refusal::from_auth(auth::Status::ExpiredCredential, "the token has expired", "", "", "");
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.error, "invalid_token");
  EXPECT_EQ(r.challenge,
            "Bearer realm=\"portcullis\", error=\"invalid_token\", "
            "error_description=\"the token has expired\"");
}

TEST(GatewayErrorTest, InsufficientScopeNamesTheScope) {
  const Refusal r =
      Refusal::from_auth(auth::Status::InsufficientScope, "", "ApiKey", "orders:write", "");
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.challenge,
            "ApiKey realm=\"portcullis\", error=\"insufficient_scope\", "
            "error_description=\"the credential lacks a required scope\", "
            "scope=\"orders:write\"");
}

TEST(GatewayErrorTest, UnavailableAndBadRequestCarryNoChallenge) {
  EXPECT_TRUE(Refusal::from_auth(auth::Status::ProviderUnavailable, "", "Bearer", "", "x")
                  .challenge.empty());
  const Refusal r = Refusal::from_auth(auth::Status::AmbiguousCredential, "", "Bearer", "", "x");
  EXPECT_EQ(r.status, 400u);
  EXPECT_TRUE(r.challenge.empty());
}

TEST(GatewayErrorTest, MissingChallengeListsEverySchemeWithTheRealm) {
  EXPECT_EQ(auth::missing_challenge({"ApiKey", "Bearer"}),
            "ApiKey realm=\"portcullis\", Bearer realm=\"portcullis\"");
  EXPECT_EQ(auth::missing_challenge({}), "");
}

}  // namespace
}  // namespace portcullis::server
