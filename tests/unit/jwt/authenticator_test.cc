// The jwt mechanism end to end without sockets: token extraction, provider choice by iss,
// every rejection's status and description, the verified-token cache, and the asynchronous
// answer after a key-set refetch.
#include "auth/jwt/jwt_authenticator.h"

#include <gtest/gtest.h>

#include <boost/beast/http/fields.hpp>
#include <tuple>

#include "auth/jwt/describe.h"
#include "fakes.h"
#include "observe/metrics.h"
#include "../jose/test_keys.h"

namespace portcullis::auth::jwt {
namespace {

using namespace jose;  // the JOSE vocabulary the mechanism is written in

namespace http = boost::beast::http;
namespace d = describe;
using namespace testing;
using namespace jose::testing;

constexpr std::int64_t kNow = 1'800'000'000;

config::JwtProviderConfig provider_config(std::string name, std::string issuer) {
  config::JwtProviderConfig c;
  c.name = std::move(name);
  c.issuer = std::move(issuer);
  c.audiences = {"api://orders"};
  c.algorithms = {"RS256", "ES256", "HS256"};
  c.claims_to_headers = {{"email", "X-User-Email"}};
  return c;
}

std::string payload(std::string_view iss = "https://main.test", std::string extra = "") {
  std::string p = std::string(R"({"iss":")") + std::string(iss) +
                  R"(","aud":"api://orders","sub":"42","scope":"orders:read","email":"a@b.c","exp":)" +
                  std::to_string(kNow + 600);
  if (!extra.empty()) p += "," + extra;
  return p + "}";
}

class JwtAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KeySet set;
    std::vector<std::string> skipped;
    std::string error;
    ASSERT_TRUE(parse_jwks(jwks_of({&rsa, &ec}), set, skipped, error)) << error;
    main = std::make_shared<Provider>(provider_config("main", "https://main.test"),
                                      std::make_shared<StaticKeySource>(std::move(set)),
                                      [this] { return now; });
    auto pc = provider_config("partners", "https://partners.test");
    pc.header = "X-Partner-Token";
    pc.cookie = "session";
    partners = std::make_shared<Provider>(
        pc, std::make_shared<StaticKeySource>(KeySet{}), [this] { return now; });
    auth = std::make_unique<JwtAuthenticator>(
        std::vector<std::shared_ptr<Provider>>{main, partners}, std::string("access_token"));
    route.name = "orders";
  }

  AuthResult run(const http::fields& h, std::string_view target = "/v1/orders") {
    AuthRequest req{h, "GET", target, "/v1/orders", "127.0.0.1", "req-1", route};
    std::optional<AuthResult> out;
    auth->authenticate(req, [&](AuthResult&& r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "not answered synchronously";
    return out.value_or(AuthResult{});
  }
  AuthResult bearer(const std::string& token, std::string scheme = "Bearer") {
    http::fields h;
    h.set(http::field::authorization, scheme + " " + token);
    return run(h);
  }
  std::string rs(std::string_view p = payload(), std::string_view header = R"({"alg":"RS256","kid":"r1"})") {
    return make_token(header, p, Alg::RS256, rsa);
  }

  // A provider with the RSA key alone, on the fixture's clock unless given another.
  std::shared_ptr<Provider> rsa_provider(const config::JwtProviderConfig& c, UnixNow clock = {}) {
    KeySet set;
    std::vector<std::string> skipped;
    std::string error;
    EXPECT_TRUE(parse_jwks(jwks_of({&rsa}), set, skipped, error)) << error;
    if (!clock) clock = [this] { return now; };
    return std::make_shared<Provider>(c, std::make_shared<StaticKeySource>(std::move(set)),
                                      std::move(clock));
  }

  std::int64_t now = kNow;
  Key rsa = rsa_key(2048, "r1");
  Key ec = ec_key("P-256", "e1");
  std::shared_ptr<Provider> main, partners;
  std::unique_ptr<JwtAuthenticator> auth;
  config::RouteConfig route;
};

TEST_F(JwtAuthTest, ValidTokenGivesItsIdentity) {
  std::string token = rs();
  AuthResult r = bearer(token);
  ASSERT_EQ(r.status, Status::Ok) << r.description;
  EXPECT_EQ(r.identity.subject, "42");
  EXPECT_EQ(r.identity.scopes, std::vector<std::string>{"orders:read"});
  EXPECT_EQ(r.identity.auth_method, "jwt");
  EXPECT_EQ(r.identity.credential_id.size(), 12u);
  using H = std::pair<std::string, std::string>;
  EXPECT_EQ(r.identity.extra_headers, std::vector<H>{H("X-User-Email", "a@b.c")});
  EXPECT_EQ(auth->challenge_scheme(), "Bearer");
  EXPECT_EQ(auth->method(), "jwt:main,jwt:partners");
  // The scheme is case-insensitive.
  EXPECT_EQ(bearer(token, "bEaReR").status, Status::Ok);
  EXPECT_EQ(bearer(make_token(R"({"alg":"ES256","kid":"e1"})", payload(), Alg::ES256, ec)).status,
            Status::Ok);
}

TEST_F(JwtAuthTest, WhereTokensAreFound) {
  http::fields none;
  EXPECT_EQ(run(none).status, Status::NoCredential);
  http::fields basic;
  basic.set(http::field::authorization, "Basic dXNlcjpwYXNz");
  EXPECT_EQ(run(basic).status, Status::NoCredential);
  // An opaque bearer token on a route with no other bearer mechanism: a credential was
  // presented, and it is not a JWT (in Authorization or in the route's query parameter).
  AuthResult opaque = bearer("2YotnFZFEjr1zCsicMWpAA");
  EXPECT_EQ(opaque.status, Status::MalformedCredential);
  EXPECT_EQ(opaque.description, d::kBearerNotJwt);
  AuthResult opaque_query = run({}, "/v1/orders?access_token=2YotnFZFEjr1zCsicMWpAA");
  EXPECT_EQ(opaque_query.status, Status::MalformedCredential);
  EXPECT_EQ(opaque_query.description, d::kNotJwt);
  EXPECT_EQ(bearer("").status, Status::MalformedCredential);
  // The route's query parameter; a provider's header and cookie (decided by its iss).
  EXPECT_EQ(run({}, "/v1/orders?access_token=" + rs()).status, Status::Ok);
  http::fields h;
  h.set("X-Partner-Token", rs());
  EXPECT_EQ(run(h).status, Status::Ok);
  http::fields c;
  c.set(http::field::cookie, "theme=dark; session=" + rs() + "; x=y");
  EXPECT_EQ(run(c).status, Status::Ok);
  http::fields junk;
  junk.set("X-Partner-Token", "not-a-jwt");
  EXPECT_EQ(run(junk).description, d::kNotJwt);
  http::fields two;
  two.set(http::field::authorization, "Bearer " + rs());
  two.set("X-Partner-Token", rs());
  EXPECT_EQ(run(two).status, Status::AmbiguousCredential);
  EXPECT_EQ(run({}, "/v1/orders?access_token=a.b.c&access_token=a.b.c").status,
            Status::AmbiguousCredential);
}

TEST_F(JwtAuthTest, ScrubRemovesTheTokenCarriers) {
  http::fields h;
  h.set("X-Partner-Token", "t");
  h.insert(http::field::cookie, "theme=dark; session=abc.def.ghi; x=y");
  h.insert(http::field::cookie, "other=1");
  std::string target = "/v1/orders?a=1&access_token=x.y.z&b=2";
  auth->scrub(h, target);
  EXPECT_EQ(h.count("X-Partner-Token"), 0u);
  std::vector<std::string> cookies;
  for (const auto& f : h) {
    if (f.name() == http::field::cookie) cookies.emplace_back(f.value());
  }
  EXPECT_EQ(cookies, (std::vector<std::string>{"theme=dark; x=y", "other=1"}));
  EXPECT_EQ(target, "/v1/orders?a=1&b=2");
  std::string only = "/v1/orders?access_token=x";
  auth->scrub(h, only);
  EXPECT_EQ(only, "/v1/orders");
}

TEST_F(JwtAuthTest, IssuerPicksTheProvider) {
  // partners has no keys: a partners token is judged by partners, not main.
  AuthResult r = bearer(rs(payload("https://partners.test")));
  EXPECT_EQ(r.status, Status::UnknownSigningKey);
  EXPECT_EQ(bearer(rs(payload("https://evil.test"))).description, d::kUnknownIssuer);
  EXPECT_EQ(bearer(rs(R"({"aud":"api://orders","exp":1900000000})")).description, d::kNoIssuer);
  // A route that also has an oauth2 mechanism leaves unknown issuers and opaque tokens to it.
  JwtAuthenticator lenient({main}, std::nullopt, false);
  for (const std::string& token :
       {rs(payload("https://evil.test")), std::string("2YotnFZFEjr1zCsicMWpAA")}) {
    http::fields h;
    h.set(http::field::authorization, "Bearer " + token);
    AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route};
    AuthResult out;
    lenient.authenticate(req, [&](AuthResult x) { out = std::move(x); });
    EXPECT_EQ(out.status, Status::NoCredential) << token;
  }
}

TEST_F(JwtAuthTest, EveryRejectionHasItsOwnDescription) {
  struct Case {
    std::string token;
    Status status;
    std::string_view description;
  };
  const std::string p = payload();
  std::string good = rs();
  // Another payload (sub 43 instead of 42) under the original signature.
  std::string other = rs(payload("https://main.test", "\"x\":1"));
  std::string tampered = other.substr(0, other.rfind('.')) + good.substr(good.rfind('.'));
  std::vector<Case> cases = {
      {"a.b.c", Status::MalformedCredential, d::kMalformed},
      {rs(R"({"iss":"https://main.test","iss":"https://main.test"})"), Status::MalformedCredential,
       d::kDuplicateMember},
      {make_token(R"({"alg":"RS256","alg":"HS256","kid":"r1"})", p, Alg::RS256, rsa),
       Status::MalformedCredential, d::kDuplicateMember},
      {rs(p, R"({"alg":"none"})"), Status::AlgorithmNotAllowed, d::kAlgNone},
      {rs(p, R"({"alg":"PS256","kid":"r1"})"), Status::AlgorithmNotAllowed, d::kAlgNotAllowed},
      {rs(p, R"({"alg":"RS256","kid":"r1","crit":["x"],"x":1})"), Status::MalformedCredential,
       d::kCrit},
      {rs(p, R"({"alg":"RS256","kid":7})"), Status::MalformedCredential, d::kBadKid},
      {rs(p, R"({"alg":"RS256","kid":"nope"})"), Status::UnknownSigningKey, d::kUnknownKey},
      {rs(p, R"({"alg":"RS256","kid":"../../../etc/passwd"})"), Status::UnknownSigningKey,
       d::kUnknownKey},
      {tampered, Status::InvalidCredential, d::kBadSignature},
      {rs(payload("https://main.test", "\"nbf\":" + std::to_string(kNow + 3600))),
       Status::CredentialNotYetValid, d::kNotYetValid},
      {rs(R"({"iss":"https://main.test","aud":"api://orders","exp":)" + std::to_string(kNow - 3600) +
          "}"),
       Status::ExpiredCredential, d::kExpired},
      {rs(R"({"iss":"https://main.test","aud":"test-client","exp":)" + std::to_string(kNow + 60) +
          "}"),
       Status::WrongAudience, d::kWrongAudience},
      {rs(R"({"iss":"https://main.test","aud":"api://orders","exp":")" +
          std::to_string(kNow + 60) + "\"}"),
       Status::InvalidClaims, "the token claim is not a number: exp"},
      {rs(R"({"iss":"https://main.test","aud":"api://orders"})"), Status::InvalidClaims,
       "the token lacks the required claim exp"},
  };
  std::set<std::string> seen;
  for (const auto& c : cases) {
    AuthResult r = bearer(c.token);
    EXPECT_EQ(r.status, c.status) << c.description << " got " << r.description;
    EXPECT_EQ(r.description, c.description);
    EXPECT_EQ(r.description.find('"'), std::string::npos);
    seen.insert(r.description);
  }
  EXPECT_GE(seen.size(), cases.size() - 3);  // a few cases share a description on purpose
  // HS256 signed with the provider's RSA public key (the classic key-confusion attack): the
  // provider has no HMAC secret, so there is no key for HS256.
  Key as_secret = secret_key(public_pem(rsa));
  AuthResult confusion = bearer(make_token(R"({"alg":"HS256","kid":"r1"})", p, Alg::HS256, as_secret));
  EXPECT_EQ(confusion.status, Status::UnknownSigningKey);
  // Over the size limit.
  std::string huge = rs(payload("https://main.test", "\"pad\":\"" + std::string(9000, 'a') + "\""));
  EXPECT_EQ(bearer(huge).description, d::kTooLarge);
}

// Issue 11: a refusal after the signature verified names the token (sub, client id and its
// handle) for the access log; before that (a bad signature, an unknown key) nobody is named.
TEST_F(JwtAuthTest, RefusalsAfterTheSignatureVerifiedNameTheToken) {
  const std::string expired = rs(R"({"iss":"https://main.test","aud":"api://orders","sub":"7",)"
                                 R"("azp":"web","exp":)" +
                                 std::to_string(kNow - 3600) + "}");
  const std::string audience = rs(R"({"iss":"https://main.test","aud":"other","sub":"8",)"
                                  R"("client_id":"svc","exp":)" +
                                  std::to_string(kNow + 60) + "}");
  for (const auto& [token, sub, client] :
       {std::tuple{expired, "7", "web"}, std::tuple{audience, "8", "svc"}}) {
    AuthResult r = bearer(token);
    EXPECT_NE(r.status, Status::Ok);
    EXPECT_EQ(r.identity.subject, sub);
    EXPECT_EQ(r.identity.client_id, client);
    EXPECT_EQ(r.identity.auth_method, "jwt");
    EXPECT_EQ(r.identity.credential_id.size(), 12u);
    EXPECT_TRUE(r.identity.scopes.empty());
  }
  // Verified, but the claims make no identity (a control character in sub): the handle only.
  AuthResult bad_sub = bearer(rs(R"({"iss":"https://main.test","aud":"other","sub":"a\nb","exp":)" +
                                 std::to_string(kNow + 60) + "}"));
  EXPECT_EQ(bad_sub.status, Status::WrongAudience);
  EXPECT_EQ(bad_sub.identity.subject, "");
  EXPECT_EQ(bad_sub.identity.credential_id.size(), 12u);
  const std::string good = rs();
  const std::string other = rs(payload("https://main.test", "\"x\":1"));
  for (const std::string& token :
       {other.substr(0, other.rfind('.')) + good.substr(good.rfind('.')),
        rs(payload(), R"({"alg":"RS256","kid":"nope"})")}) {
    AuthResult r = bearer(token);
    EXPECT_NE(r.status, Status::Ok);
    EXPECT_EQ(r.identity.subject, "");
    EXPECT_EQ(r.identity.auth_method, "");
    EXPECT_EQ(r.identity.credential_id, "");
  }
}

TEST_F(JwtAuthTest, VerifiedTokensAreCachedButStillExpire) {
  std::string token = rs(R"({"iss":"https://main.test","aud":"api://orders","sub":"7","exp":)" +
                         std::to_string(kNow + 100) + "}");
  ASSERT_EQ(bearer(token).status, Status::Ok);
  EXPECT_EQ(main->cache().size(), 1u);
  // A hit: the same identity, no verification needed (the key could even be gone).
  AuthResult hit = bearer(token);
  EXPECT_EQ(hit.status, Status::Ok);
  EXPECT_EQ(hit.identity.subject, "7");
  now = kNow + 100 + 60;  // past exp + skew
  AuthResult expired = bearer(token);
  EXPECT_EQ(expired.status, Status::ExpiredCredential);
  // Invalid tokens are never cached.
  std::string bad = rs(payload(), R"({"alg":"RS256","kid":"nope"})");
  bearer(bad);
  EXPECT_EQ(main->cache().size(), 0u);
}

TEST_F(JwtAuthTest, CacheHoldsEntriesAtMostCacheMaxSeconds) {
  auto c = provider_config("short", "https://short.test");
  c.cache_max_s = 10;
  int verifies = 0;
  auto p = rsa_provider(c, [this, &verifies] { ++verifies; return now; });
  JwtAuthenticator a({p}, std::nullopt);
  std::string token = rs(payload("https://short.test"));
  http::fields h;
  h.set(http::field::authorization, "Bearer " + token);
  AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route};
  auto go = [&] {
    AuthResult out;
    a.authenticate(req, [&](AuthResult x) { out = std::move(x); });
    return out;
  };
  ASSERT_EQ(go().status, Status::Ok);
  EXPECT_EQ(p->cache().size(), 1u);
  now += 10;
  ASSERT_EQ(go().status, Status::Ok);  // re-verified: the entry had expired
  EXPECT_EQ(p->cache().size(), 1u);
}

TEST_F(JwtAuthTest, DisabledCacheVerifiesEveryTime) {
  auto c = provider_config("nocache", "https://nocache.test");
  c.token_cache_entries = 0;
  auto p = rsa_provider(c);
  JwtAuthenticator a({p}, std::nullopt);
  http::fields h;
  h.set(http::field::authorization, "Bearer " + rs(payload("https://nocache.test")));
  AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route};
  for (int i = 0; i < 3; ++i) {
    AuthResult out;
    a.authenticate(req, [&](AuthResult x) { out = std::move(x); });
    EXPECT_EQ(out.status, Status::Ok);
  }
  EXPECT_EQ(p->cache().size(), 0u);
}

// The connection memo (CredentialMemo): a token verified on a connection is taken again
// from it, within the same time bounds as a cache entry, and only with the cache on.
// White-box: changes whom the memo names, to see whether an answer came from it.
void rename(CredentialMemo& memo, const std::string& subject) {
  identity::Identity who = memo.identity();
  who.subject = subject;
  memo.set_identity(who);
}

TEST_F(JwtAuthTest, MemoHoldsAVerifiedTokenWithinTheCacheBounds) {
  CredentialMemo memo;
  std::string token = rs(payload("https://main.test", R"("nbf":)" + std::to_string(kNow)));
  http::fields h;
  h.set(http::field::authorization, "Bearer " + token);
  AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route, &memo};
  auto go = [&] {
    AuthResult out;
    auth->authenticate(req, [&](AuthResult x) { out = std::move(x); });
    return out;
  };
  ASSERT_EQ(go().status, Status::Ok);
  EXPECT_EQ(memo.owner, main->memo_owner());
  EXPECT_EQ(memo.credential, token);
  EXPECT_EQ(memo.valid_from, kNow - 60);       // nbf - clock_skew_s
  EXPECT_EQ(memo.valid_until, kNow + 300);     // verified_at + cache_max_s (before exp)
  // Taken from the memo: a changed identity there shows it (white-box).
  rename(memo, "from-memo");
  EXPECT_EQ(go().who().subject, "from-memo");
  // Past cache_max_s the token is verified again (and remembered up to its exp).
  now = kNow + 300;
  EXPECT_EQ(go().who().subject, "42");
  EXPECT_EQ(memo.valid_until, kNow + 600);
  // Expired (past exp + skew): the memo is dropped and the token refused.
  now = kNow + 660;
  EXPECT_EQ(go().status, Status::ExpiredCredential);
  EXPECT_EQ(memo.owner, 0u);
  // Other bytes never match a memo.
  now = kNow;
  ASSERT_EQ(go().status, Status::Ok);
  std::string other = rs(payload("https://main.test", R"("jti":"x")"));
  h.set(http::field::authorization, "Bearer " + other);
  rename(memo, "from-memo");
  EXPECT_EQ(go().who().subject, "42");
}

TEST_F(JwtAuthTest, MemoIsFilledFromASharedCacheHit) {
  std::string token = rs();
  ASSERT_EQ(bearer(token).status, Status::Ok);  // verified on another connection: cached
  CredentialMemo memo;
  http::fields h;
  h.set(http::field::authorization, "Bearer " + token);
  AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route, &memo};
  AuthResult out;
  auth->authenticate(req, [&](AuthResult x) { out = std::move(x); });
  ASSERT_EQ(out.status, Status::Ok);
  EXPECT_EQ(memo.owner, main->memo_owner());
  EXPECT_EQ(memo.identity().subject, "42");
  EXPECT_EQ(memo.valid_until, kNow + 300);
}

TEST_F(JwtAuthTest, MemoIsOffWithTheCache) {
  auto c = provider_config("nocache", "https://nocache.test");
  c.token_cache_entries = 0;
  auto p = rsa_provider(c);
  JwtAuthenticator a({p}, std::nullopt);
  CredentialMemo memo;
  http::fields h;
  h.set(http::field::authorization, "Bearer " + rs(payload("https://nocache.test")));
  AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route, &memo};
  AuthResult out;
  a.authenticate(req, [&](AuthResult x) { out = std::move(x); });
  EXPECT_EQ(out.status, Status::Ok);
  EXPECT_EQ(memo.owner, 0u);
}

TEST_F(JwtAuthTest, UnknownKidIsAnsweredAfterTheRefetch) {
  auto log = std::make_shared<FetchLog>();
  auto scheduler = std::make_shared<FakeScheduler>();
  FakeClock clock;
  JwksOptions o;
  o.provider = "remote";
  auto jwks = JwksCache::create(o, std::make_unique<FakeFetcher>(log), scheduler, clock.fn());
  auto c = provider_config("remote", "https://remote.test");
  auto p = std::make_shared<Provider>(c, jwks, [this] { return now; });
  p->start();
  JwtAuthenticator a({p}, std::nullopt);
  EXPECT_FALSE(p->ready());

  std::string token = rs(payload("https://remote.test"));
  auto go = [&](std::optional<AuthResult>& out) {
    http::fields h;
    h.set(http::field::authorization, "Bearer " + token);
    AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route};
    a.authenticate(req, [&out](AuthResult x) { out = std::move(x); });
  };
  auto answer = [&](std::string body) {
    scheduler->run_immediate();
    std::function<void(FetchResult)> done;
    {
      std::lock_guard lock(log->mu);
      ASSERT_FALSE(log->pending.empty());
      done = std::move(log->pending.front());
      log->pending.erase(log->pending.begin());
    }
    done({true, std::move(body), {}, {}});
  };

  // Before the first fetch: 503, never 401.
  std::optional<AuthResult> out;
  go(out);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, Status::ProviderUnavailable);
  EXPECT_EQ(out->description, d::kKeysNotReady);

  answer(jwks_of({&ec}));  // a set without r1
  EXPECT_TRUE(p->ready());
  out.reset();
  go(out);
  EXPECT_FALSE(out.has_value());  // waiting on the refetch; the request buffers may go now
  answer(jwks_of({&ec, &rsa}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status, Status::Ok) << out->description;
}

}  // namespace
}  // namespace portcullis::auth::jwt
