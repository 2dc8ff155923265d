// The oauth2 mechanism against a fake transport and a fake clock: every outcome.
#include "auth/oauth2/oauth2_authenticator.h"

#include <gtest/gtest.h>

#include <boost/beast/http/field.hpp>

#include "fakes.h"

namespace portcullis::auth::oauth2 {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FakeTransport;
namespace http = boost::beast::http;

class OAuth2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    cfg.name = "idp";
    std::string why;
    ASSERT_TRUE(config::parse_http_url("http://127.0.0.1:9100/token/introspection",
                                       cfg.introspection_endpoint, why));
    cfg.client_id = "gateway";
    cfg.client_secret = config::Secret("s3cret");
    cfg.issuer = "http://idp.test";
    route.name = "orders";
  }

  // Tests that leave a call pending would otherwise leak provider and transport (fakes.h).
  void TearDown() override { transport->drop_pending(); }

  std::shared_ptr<OAuth2Authenticator> make() {
    provider = OAuth2Provider::create(cfg, transport, {clock.steady(), clock.unix()});
    return std::make_shared<OAuth2Authenticator>(provider);
  }

  // Runs one request with the given Authorization header (none when empty); the result
  // when `done` was called before returning, else nullopt (the answer is pending).
  std::optional<AuthResult> run(Authenticator& a, std::string authorization) {
    http::fields headers;
    if (!authorization.empty()) headers.set(http::field::authorization, authorization);
    AuthRequest req{headers, "GET", "/v1/orders", "/v1/orders", "127.0.0.1", "rid", route};
    std::optional<AuthResult> out;
    int calls = 0;
    a.authenticate(req, [&](AuthResult&& r) {
      ++calls;
      out = std::move(r);
    });
    EXPECT_LE(calls, 1);
    return out;
  }

  AuthResult run_with_answer(Authenticator& a, const std::string& token, std::string body,
                             unsigned status = 200) {
    transport->auto_answer = [body, status](const HttpExchange&) {
      return FakeTransport::json(status, body);
    };
    auto r = run(a, "Bearer " + token);
    transport->auto_answer = nullptr;
    EXPECT_TRUE(r.has_value());
    return r.value_or(AuthResult::fail(Status::NoCredential));
  }

  std::string active(const std::string& extra = "") const {
    return R"({"active":true,"iss":"http://idp.test","sub":"42","client_id":"orders-app",)"
           R"("scope":"orders:read orders:write","token_type":"Bearer","exp":)" +
           std::to_string(clock.unix_now() + 3600) + extra + "}";
  }

  FakeClock clock;
  std::shared_ptr<FakeTransport> transport = std::make_shared<FakeTransport>();
  config::OAuth2ProviderConfig cfg;
  config::RouteConfig route;
  std::shared_ptr<OAuth2Provider> provider;
};

TEST_F(OAuth2Test, ActiveTokenBecomesAnIdentity) {
  cfg.roles_claim = "realm_access.roles";
  auto a = make();
  EXPECT_EQ(a->method(), "oauth2:idp");
  EXPECT_EQ(a->challenge_scheme(), "Bearer");
  EXPECT_TRUE(provider->ready());
  EXPECT_EQ(provider->not_ready_reason(), "");
  auto r = run_with_answer(*a, "opaque-token-1",
                           active(R"(,"realm_access":{"roles":["admin","ops"]})"));
  ASSERT_EQ(r.status, Status::Ok) << r.description;
  EXPECT_EQ(r.identity.subject, "42");
  EXPECT_EQ(r.identity.client_id, "orders-app");
  EXPECT_EQ(r.identity.scopes, (std::vector<std::string>{"orders:read", "orders:write"}));
  EXPECT_EQ(r.identity.roles, (std::vector<std::string>{"admin", "ops"}));
  EXPECT_EQ(r.identity.auth_method, "oauth2");
  EXPECT_EQ(r.identity.credential_id, credential_id(token_key("opaque-token-1")));
  EXPECT_EQ(r.identity.credential_id.size(), 12u);
  EXPECT_EQ(transport->calls(), 1u);
  EXPECT_EQ(transport->last().body, "token=opaque-token-1&token_type_hint=access_token");
}

TEST_F(OAuth2Test, ScopesClaimCanBeAnArrayAtAPath) {
  cfg.scopes_claim = "authz.perms";
  auto a = make();
  auto r = run_with_answer(*a, "t", active(R"(,"authz":{"perms":["a","b"]})"));
  ASSERT_EQ(r.status, Status::Ok);
  EXPECT_EQ(r.identity.scopes, (std::vector<std::string>{"a", "b"}));
}

// X-User-Scopes and X-User-Roles join items with spaces: an item "orders:read admin" would
// reach the upstream as two where policy saw one (issue 10, item 10). Such an answer is
// unusable, like any malformed answer: 503, not cached, the breaker untouched.
TEST_F(OAuth2Test, ScopeOrRoleItemWithASpaceMakesTheAnswerUnusable) {
  cfg.scopes_claim = "authz.perms";
  cfg.roles_claim = "realm_access.roles";
  cfg.breaker_failures = 2;
  auto a = make();
  for (const std::string extra :
       {R"(,"authz":{"perms":["orders:read admin"]})",
        R"(,"authz":{"perms":["a"]},"realm_access":{"roles":["viewer","ops admin"]})"}) {
    for (int i = 0; i < 3; ++i) {  // never cached: asked again each time
      auto r = run_with_answer(*a, "spaced", active(extra));
      EXPECT_EQ(r.status, Status::ProviderUnavailable) << extra;
      EXPECT_EQ(r.description, describe::kBadAnswer);
      EXPECT_TRUE(r.identity.scopes.empty());
    }
  }
  EXPECT_EQ(transport->calls(), 6u);
  EXPECT_FALSE(provider->breaker().is_open());
  // A space-separated string is a list by definition (RFC 7662 `scope`): still accepted.
  auto r = run_with_answer(*a, "string", active(R"(,"authz":{"perms":"a b"})"));
  ASSERT_EQ(r.status, Status::Ok);
  EXPECT_EQ(r.identity.scopes, (std::vector<std::string>{"a", "b"}));
}

// Issue 13: rate_limit_claim of an introspection answer; a value that is not a plan is ignored
// (the token is still good; the route's limits apply).
TEST_F(OAuth2Test, RatePlanFromTheConfiguredClaim) {
  cfg.rate_limit_claim = "ext.plan";
  cfg.cache_s = 0;
  auto a = make();
  auto r = run_with_answer(*a, "t1", active(R"(,"ext":{"plan":"100/1m"})"));
  ASSERT_EQ(r.status, Status::Ok) << r.description;
  EXPECT_EQ(r.identity.rate_plan, (identity::RatePlan{100, 60}));
  auto o = run_with_answer(*a, "t2", active(R"(,"ext":{"plan":{"requests":7,"per":"2h"}})"));
  ASSERT_EQ(o.status, Status::Ok) << o.description;
  EXPECT_EQ(o.identity.rate_plan, (identity::RatePlan{7, 7200}));
  auto absent = run_with_answer(*a, "t3", active());
  ASSERT_EQ(absent.status, Status::Ok);
  EXPECT_FALSE(absent.identity.rate_plan);
  int n = 0;
  for (const std::string bad : {R"("many")", R"("5/1w")", "5", R"({"requests":0,"per":"1m"})"}) {
    const std::string token = "bad-" + std::to_string(++n);
    auto b = run_with_answer(*a, token, active(R"(,"ext":{"plan":)" + bad + "}"));
    ASSERT_EQ(b.status, Status::Ok) << bad << ": " << b.description;
    EXPECT_FALSE(b.identity.rate_plan) << bad;
  }
}

TEST_F(OAuth2Test, RatePlanClaimIsIgnoredWithoutTheSetting) {
  auto a = make();
  auto r = run_with_answer(*a, "t", active(R"(,"rate_limit":"1/1s")"));
  ASSERT_EQ(r.status, Status::Ok);
  EXPECT_FALSE(r.identity.rate_plan);
}

TEST_F(OAuth2Test, PositiveAnswerIsCachedForCacheSeconds) {
  cfg.cache_s = 60;
  auto a = make();
  ASSERT_EQ(run_with_answer(*a, "t", active()).status, Status::Ok);
  clock.advance(59s);
  auto hit = run(*a, "Bearer t");  // no answer configured: a call would stay pending
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->status, Status::Ok);
  EXPECT_EQ(transport->calls(), 1u);
  clock.advance(1s);
  EXPECT_FALSE(run(*a, "Bearer t"));  // the entry ended: a new call
  EXPECT_EQ(transport->calls(), 2u);
}

TEST_F(OAuth2Test, PositiveAnswerNeverOutlivesTheTokensExp) {
  cfg.cache_s = 60;
  auto a = make();
  const std::string body = R"({"active":true,"iss":"http://idp.test","exp":)" +
                           std::to_string(clock.unix_now() + 5) + "}";
  ASSERT_EQ(run_with_answer(*a, "t", body).status, Status::Ok);
  clock.advance(4s);
  EXPECT_TRUE(run(*a, "Bearer t"));
  clock.advance(1s);
  EXPECT_FALSE(run(*a, "Bearer t"));
  EXPECT_EQ(transport->calls(), 2u);
}

// The connection memo: filled from a positive cache hit, answering the same token on that
// connection until the cache entry would have ended, never from refusals or without a cache.
class OAuth2MemoTest : public OAuth2Test {
 protected:
  std::optional<AuthResult> go(Authenticator& a, const std::string& token) {
    http::fields headers;
    headers.set(http::field::authorization, "Bearer " + token);
    AuthRequest req{headers, "GET", "/v1/orders", "/v1/orders", "127.0.0.1", "rid", route, &memo};
    std::optional<AuthResult> out;
    a.authenticate(req, [&](AuthResult&& r) { out = std::move(r); });
    return out;
  }
  CredentialMemo memo;
};

TEST_F(OAuth2MemoTest, AnswersTheSameTokenUntilTheCacheEntryEnds) {
  cfg.cache_s = 60;
  auto a = make();
  ASSERT_EQ(run_with_answer(*a, "t", active()).status, Status::Ok);
  auto hit = go(*a, "t");
  ASSERT_TRUE(hit);
  ASSERT_EQ(hit->status, Status::Ok);
  EXPECT_NE(memo.owner, 0u);
  EXPECT_EQ(memo.credential, "t");
  identity::Identity renamed = memo.identity();  // white-box: the next answer comes from the memo
  renamed.subject = "from-memo";
  memo.set_identity(renamed);
  EXPECT_EQ(go(*a, "t")->who().subject, "from-memo");
  EXPECT_EQ(go(*a, "u").has_value(), false);  // another token: its own introspection
  clock.advance(60s);
  EXPECT_FALSE(go(*a, "t"));  // the entry ended: asked again, not answered from the memo
  EXPECT_EQ(memo.owner, 0u);
}

TEST_F(OAuth2MemoTest, NeverHoldsARefusalNorWorksWithoutTheCache) {
  cfg.cache_s = 60;
  cfg.negative_cache_s = 60;
  auto a = make();
  ASSERT_EQ(run_with_answer(*a, "t", R"({"active":false})").status, Status::InactiveCredential);
  ASSERT_EQ(go(*a, "t")->status, Status::InactiveCredential);  // a negative cache hit
  EXPECT_EQ(memo.owner, 0u);
  cfg.cache_s = 0;
  cfg.name = "nocache";
  auto b = make();
  ASSERT_EQ(run_with_answer(*b, "v", active()).status, Status::Ok);
  EXPECT_FALSE(go(*b, "v"));  // asked again
  EXPECT_EQ(memo.owner, 0u);
}

TEST_F(OAuth2Test, CacheOffMeansEveryRequestAsks) {
  cfg.cache_s = 0;
  auto a = make();
  ASSERT_EQ(run_with_answer(*a, "t", active()).status, Status::Ok);
  ASSERT_EQ(run_with_answer(*a, "t", R"({"active":false})").status,
            Status::InactiveCredential);
  EXPECT_EQ(transport->calls(), 2u);
}

TEST_F(OAuth2Test, InactiveTokenIs401AndCachedNegativelyForNegativeCacheSeconds) {
  cfg.negative_cache_s = 10;
  auto a = make();
  auto r = run_with_answer(*a, "revoked", R"({"active":false})");
  EXPECT_EQ(r.status, Status::InactiveCredential);
  EXPECT_EQ(http_status(r.status), 401u);
  EXPECT_EQ(error_code(r.status), "invalid_token");
  EXPECT_EQ(r.description, describe::kInactive);
  clock.advance(9s);
  auto hit = run(*a, "Bearer revoked");
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->status, Status::InactiveCredential);
  EXPECT_EQ(transport->calls(), 1u);
  clock.advance(1s);
  EXPECT_FALSE(run(*a, "Bearer revoked"));
  EXPECT_EQ(transport->calls(), 2u);
}

TEST_F(OAuth2Test, ExpiredWrongIssuerWrongAudienceAreRefused) {
  cfg.audiences = {"api://orders"};
  auto a = make();
  const auto now = std::to_string(clock.unix_now());
  auto expired = run_with_answer(
      *a, "t1", R"({"active":true,"iss":"http://idp.test","aud":"api://orders","exp":)" + now + "}");
  EXPECT_EQ(expired.status, Status::ExpiredCredential);
  EXPECT_EQ(expired.description, describe::kExpired);
  auto issuer = run_with_answer(*a, "t2", R"({"active":true,"iss":"http://evil.test","aud":"api://orders"})");
  EXPECT_EQ(issuer.status, Status::UnknownCredential);
  EXPECT_EQ(issuer.description, describe::kIssuer);
  auto no_issuer = run_with_answer(*a, "t3", R"({"active":true,"aud":"api://orders"})");
  EXPECT_EQ(no_issuer.status, Status::UnknownCredential);
  auto audience = run_with_answer(*a, "t4", R"({"active":true,"iss":"http://idp.test","aud":"orders-app"})");
  EXPECT_EQ(audience.status, Status::WrongAudience);
  EXPECT_EQ(audience.description, describe::kAudience);
  auto no_audience = run_with_answer(*a, "t5", R"({"active":true,"iss":"http://idp.test"})");
  EXPECT_EQ(no_audience.status, Status::WrongAudience);
  auto in_list = run_with_answer(
      *a, "t6", R"({"active":true,"iss":"http://idp.test","aud":["x","api://orders"]})");
  EXPECT_EQ(in_list.status, Status::Ok);
  for (const auto& r : {expired, issuer, no_issuer, audience, no_audience}) {
    EXPECT_EQ(http_status(r.status), 401u);
  }
}

// Issue 11: once the provider calls a token active, a refusal names it (sub, client_id, the
// token's handle) for the access log, from the cache too; an inactive token names nobody.
TEST_F(OAuth2Test, RefusalsOfAnActiveTokenNameIt) {
  cfg.audiences = {"api://orders"};
  cfg.negative_cache_s = 10;
  auto a = make();
  auto audience = run_with_answer(*a, "t-aud", active(R"(,"aud":"billing")"));
  EXPECT_EQ(audience.status, Status::WrongAudience);
  auto cached = run(*a, "Bearer t-aud");
  ASSERT_TRUE(cached);
  EXPECT_EQ(transport->calls(), 1u);
  for (const auto& r : {audience, *cached}) {
    EXPECT_EQ(r.identity.subject, "42");
    EXPECT_EQ(r.identity.client_id, "orders-app");
    EXPECT_EQ(r.identity.auth_method, "oauth2");
    EXPECT_EQ(r.identity.credential_id, credential_id(token_key("t-aud")));
    EXPECT_TRUE(r.identity.scopes.empty());
  }
  auto refresh = run_with_answer(*a, "t-rt",
                                 R"({"active":true,"iss":"http://idp.test","aud":"api://orders",)"
                                 R"("client_id":"orders-app","token_type":"refresh_token"})");
  EXPECT_EQ(refresh.status, Status::WrongTokenType);
  EXPECT_EQ(refresh.identity.client_id, "orders-app");
  auto inactive = run_with_answer(*a, "t-off", R"({"active":false,"sub":"42"})");
  EXPECT_EQ(inactive.status, Status::InactiveCredential);
  EXPECT_EQ(inactive.identity.subject, "");
  EXPECT_EQ(inactive.identity.credential_id, "");
}

// Found by tests/fuzz/introspection_fuzz.cc (UBSan: a double outside int64's range was
// converted as is): dates beyond int64 saturate, so a far-future exp is valid, not expired.
TEST_F(OAuth2Test, DatesBeyondInt64Saturate) {
  auto a = make();
  const std::string head = R"({"active":true,"iss":"http://idp.test",)";
  EXPECT_EQ(run_with_answer(*a, "t1", head + R"("exp":1e300})").status, Status::Ok);
  EXPECT_EQ(run_with_answer(*a, "t2", head + R"("exp":-1e300})").status,
            Status::ExpiredCredential);
  EXPECT_EQ(run_with_answer(*a, "t3", head + R"("nbf":1.5e19})").status,
            Status::CredentialNotYetValid);
}

TEST_F(OAuth2Test, NotYetValidIsRefused) {
  auto a = make();
  auto r = run_with_answer(*a, "t", R"({"active":true,"iss":"http://idp.test","nbf":)" +
                                        std::to_string(clock.unix_now() + 3600) + "}");
  EXPECT_EQ(r.status, Status::CredentialNotYetValid);
}

TEST_F(OAuth2Test, RefreshTokensAndOtherKindsNeverCallApis) {
  auto a = make();
  auto refresh = run_with_answer(*a, "r", active(R"(,"token_type":"refresh_token")"));
  // (a duplicate token_type member: Boost.JSON keeps the last one)
  EXPECT_EQ(refresh.status, Status::WrongTokenType);
  EXPECT_EQ(refresh.description, describe::kRefreshToken);
  EXPECT_EQ(http_status(refresh.status), 401u);
  auto refresh2 = run_with_answer(
      *a, "r2", R"({"active":true,"iss":"http://idp.test","token_type":"Refresh_Token"})");
  EXPECT_EQ(refresh2.status, Status::WrongTokenType);
  auto id_token = run_with_answer(
      *a, "i", R"({"active":true,"iss":"http://idp.test","token_type":"id_token"})");
  EXPECT_EQ(id_token.status, Status::WrongTokenType);
  EXPECT_EQ(id_token.description, describe::kOtherTokenType);
  for (std::string type : {"Bearer", "bearer", "access_token", "ACCESS_TOKEN"}) {
    auto ok = run_with_answer(*a, "a-" + type,
                              R"({"active":true,"iss":"http://idp.test","token_type":")" + type + "\"}");
    EXPECT_EQ(ok.status, Status::Ok) << type;
  }
  auto absent = run_with_answer(*a, "no-type", R"({"active":true,"iss":"http://idp.test"})");
  EXPECT_EQ(absent.status, Status::Ok);
}

TEST_F(OAuth2Test, ProviderFailuresAre503AndNeverCached) {
  auto a = make();
  struct Case {
    std::function<HttpOutcome()> outcome;
    std::string_view description;
  };
  const Case cases[] = {
      {[] { return FakeTransport::timeout(); }, describe::kTimeout},
      {[] { return FakeTransport::refused(); }, describe::kUnreachable},
      {[] { return FakeTransport::json(503, "busy"); }, describe::kHttpError},
      {[] { return FakeTransport::json(401, R"({"error":"invalid_client"})"); }, describe::kHttpError},
      {[] { return FakeTransport::json(200, "not json"); }, describe::kBadAnswer},
      {[] { return FakeTransport::json(200, R"({"active":true,"exp":"soon"})"); }, describe::kBadAnswer},
  };
  std::size_t calls = 0;
  for (const auto& c : cases) {
    for (int i = 0; i < 2; ++i) {  // twice: the failure is not remembered
      transport->auto_answer = [&](const HttpExchange&) { return c.outcome(); };
      auto r = run(*a, "Bearer tok");
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, Status::ProviderUnavailable);
      EXPECT_EQ(http_status(r->status), 503u);
      EXPECT_EQ(error_code(r->status), "temporarily_unavailable");
      EXPECT_EQ(r->description, c.description);
      EXPECT_EQ(transport->calls(), ++calls);
      // Reset the breaker's count between failures: one success.
      transport->auto_answer = [&](const HttpExchange&) {
        return FakeTransport::json(200, R"({"active":false})");
      };
      run(*a, "Bearer other-" + std::to_string(calls));
      ++calls;
    }
  }
}

TEST_F(OAuth2Test, TokensTheProviderWillNotIntrospectAre401AndNeverTripTheBreaker) {
  cfg.breaker_failures = 2;
  auto a = make();
  for (int i = 0; i < 5; ++i) {
    auto r = run_with_answer(*a, "eyJ.x.y" + std::to_string(i),
                             R"({"error":"unsupported_token_type"})", 400);
    EXPECT_EQ(r.status, Status::UnknownCredential);
    EXPECT_EQ(r.description, describe::kRefused);
    EXPECT_EQ(http_status(r.status), 401u);
  }
  EXPECT_FALSE(provider->breaker().is_open());
  EXPECT_EQ(run_with_answer(*a, "good", active()).status, Status::Ok);
}

TEST_F(OAuth2Test, BreakerStopsCallsToAFailingProviderThenTriesOnce) {
  cfg.breaker_failures = 3;
  cfg.breaker_open_s = 5;
  auto a = make();
  transport->auto_answer = [](const HttpExchange&) { return FakeTransport::refused(); };
  for (int i = 0; i < 3; ++i) {
    auto r = run(*a, "Bearer t" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->description, describe::kUnreachable);
  }
  EXPECT_EQ(transport->calls(), 3u);
  EXPECT_TRUE(provider->breaker().is_open());
  EXPECT_EQ(provider->not_ready_reason(), "circuit breaker open");  // for /readyz
  for (int i = 0; i < 10; ++i) {
    auto r = run(*a, "Bearer x" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, Status::ProviderUnavailable);
    EXPECT_EQ(r->description, describe::kBreakerOpen);
  }
  EXPECT_EQ(transport->calls(), 3u);  // no call while open
  clock.advance(5s);
  EXPECT_EQ(provider->not_ready_reason(), "");  // the next request is the trial
  transport->auto_answer = [this](const HttpExchange&) { return FakeTransport::json(200, active()); };
  auto r = run(*a, "Bearer back");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::Ok);
  EXPECT_FALSE(provider->breaker().is_open());
  EXPECT_EQ(transport->calls(), 4u);
}

TEST_F(OAuth2Test, ConcurrentRequestsWithOneNewTokenMakeOneCall) {
  auto a = make();
  std::vector<std::optional<AuthResult>> results(50);
  http::fields headers;
  headers.set(http::field::authorization, "Bearer same-token");
  AuthRequest req{headers, "GET", "/", "/", "127.0.0.1", "rid", route};
  for (auto& slot : results) {
    a->authenticate(req, [&slot](AuthResult&& r) { slot = std::move(r); });
  }
  EXPECT_EQ(transport->calls(), 1u);
  ASSERT_EQ(transport->pending(), 1u);
  for (const auto& slot : results) EXPECT_FALSE(slot);
  transport->answer(FakeTransport::json(200, active()));
  for (const auto& slot : results) {
    ASSERT_TRUE(slot);
    EXPECT_EQ(slot->status, Status::Ok);
    EXPECT_EQ(slot->identity.subject, "42");
  }
  EXPECT_EQ(transport->calls(), 1u);
}

TEST_F(OAuth2Test, ConcurrentRequestsShareAFailureToo) {
  auto a = make();
  int unavailable = 0;
  http::fields headers;
  headers.set(http::field::authorization, "Bearer tok");
  AuthRequest req{headers, "GET", "/", "/", "127.0.0.1", "rid", route};
  for (int i = 0; i < 5; ++i) {
    a->authenticate(req, [&](AuthResult&& r) { unavailable += r.status == Status::ProviderUnavailable; });
  }
  transport->answer(FakeTransport::timeout());
  EXPECT_EQ(unavailable, 5);
  EXPECT_EQ(transport->calls(), 1u);
}

TEST_F(OAuth2Test, NoBearerTokenIsNotThisMechanismsBusiness) {
  auto a = make();
  for (std::string h : {"", "Basic dXNlcjpwdw==", "ApiKey pk_abc", "Bearerx abc"}) {
    auto r = run(*a, h);
    ASSERT_TRUE(r) << h;
    EXPECT_EQ(r->status, Status::NoCredential) << h;
  }
  EXPECT_EQ(transport->calls(), 0u);
}

TEST_F(OAuth2Test, MalformedBearerTokensAreRefusedWithoutACall) {
  auto a = make();
  const std::vector<std::string> bad = {"Bearer",     "Bearer ",    "Bearer a b", "Bearer a\"b",
                                       "Bearer ===", "Bearer " + std::string(kMaxTokenBytes + 1, 'a')};
  for (const auto& h : bad) {
    auto r = run(*a, h);
    ASSERT_TRUE(r) << h;
    EXPECT_EQ(r->status, Status::MalformedCredential) << h;
    EXPECT_EQ(http_status(r->status), 401u);
  }
  EXPECT_EQ(transport->calls(), 0u);
  transport->auto_answer = [this](const HttpExchange&) { return FakeTransport::json(200, active()); };
  auto r = run(*a, "bEaReR  abc-._~+/==");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, Status::Ok);
}

TEST_F(OAuth2Test, ClientSecretPostSendsTheClientInTheForm) {
  cfg.auth_method = config::ClientAuthMethod::ClientSecretPost;
  auto a = make();
  run_with_answer(*a, "t", active());
  EXPECT_EQ(transport->last().body,
            "token=t&token_type_hint=access_token&client_id=gateway&client_secret=s3cret");
}

TEST_F(OAuth2Test, DiscoveryFindsTheEndpointAndTheIssuer) {
  cfg.introspection_endpoint = {};
  cfg.issuer.reset();
  std::string why;
  ASSERT_TRUE(config::parse_http_url("http://127.0.0.1:9100/.well-known/openid-configuration",
                                     cfg.discovery, why));
  auto a = make();
  ASSERT_EQ(transport->calls(), 1u);
  EXPECT_EQ(transport->last().method, "GET");
  EXPECT_EQ(transport->last().url.target, "/.well-known/openid-configuration");
  EXPECT_FALSE(provider->ready());
  EXPECT_EQ(provider->not_ready_reason(), "discovery not done yet");
  auto early = run(*a, "Bearer t");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, Status::ProviderUnavailable);
  EXPECT_EQ(early->description, describe::kNotDiscovered);

  transport->answer(FakeTransport::timeout());  // the first attempt fails
  EXPECT_FALSE(provider->ready());
  clock.advance(2s);
  EXPECT_FALSE(provider->ready());  // starts a second attempt
  ASSERT_EQ(transport->pending(), 1u);
  transport->answer(FakeTransport::json(
      200, R"({"issuer":"http://idp.test","introspection_endpoint":"http://127.0.0.1:9100/token/introspection"})"));
  EXPECT_TRUE(provider->ready());
  auto r = run_with_answer(*a, "t", active());
  EXPECT_EQ(r.status, Status::Ok);
  EXPECT_EQ(transport->last().url.target, "/token/introspection");
  // The discovered issuer is enforced.
  auto wrong = run_with_answer(*a, "t2", R"({"active":true,"iss":"http://other.test"})");
  EXPECT_EQ(wrong.status, Status::UnknownCredential);
}

TEST_F(OAuth2Test, DiscoveryOverHttpsRefusesAPlainEndpoint) {
  cfg.introspection_endpoint = {};
  std::string why;
  ASSERT_TRUE(config::parse_http_url("https://idp.test/.well-known/openid-configuration",
                                     cfg.discovery, why));
  auto a = make();
  ASSERT_EQ(transport->calls(), 1u);
  EXPECT_TRUE(transport->last().url.https);
  // Tokens would then travel in clear text: not taken, the provider stays not ready.
  transport->answer(FakeTransport::json(
      200, R"({"issuer":"http://idp.test","introspection_endpoint":"http://idp.test/introspect"})"));
  EXPECT_FALSE(provider->ready());
  clock.advance(2s);
  EXPECT_FALSE(provider->ready());
  ASSERT_EQ(transport->pending(), 1u);
  transport->answer(FakeTransport::json(
      200, R"({"issuer":"http://idp.test","introspection_endpoint":"https://idp.test/introspect"})"));
  EXPECT_TRUE(provider->ready());
  run_with_answer(*a, "t", active());
  EXPECT_TRUE(transport->last().url.https);
  EXPECT_EQ(transport->last().url.port, 443);
}

TEST(BearerToken, B64TokenSyntax) {
  EXPECT_TRUE(is_b64token("a-._~+/b=="));
  EXPECT_FALSE(is_b64token("=a"));
  EXPECT_FALSE(is_b64token("a=b"));
  EXPECT_FALSE(is_b64token(""));
}

}  // namespace
}  // namespace portcullis::auth::oauth2
