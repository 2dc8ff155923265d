#include <gtest/gtest.h>

#include <optional>
#include <set>

#include "auth/chain.h"
#include "auth/status.h"
#include "policy/route_policy.h"

namespace portcullis::auth {
namespace {

namespace http = boost::beast::http;

// A mechanism that answers from a fixed script, synchronously or later.
class ScriptedAuthenticator : public Authenticator {
 public:
  ScriptedAuthenticator(std::string method, std::string scheme, AuthResult answer)
      : method_(std::move(method)), scheme_(std::move(scheme)), answer_(std::move(answer)) {}
  std::string_view method() const override { return method_; }
  std::string_view challenge_scheme() const override { return scheme_; }
  const CredentialExtractor& credentials() const override { return nowhere_; }
  void authenticate(const AuthRequest&, AuthCallback done) override {
    ++calls;
    if (deferred) {
      pending = std::move(done);
    } else {
      done(AuthResult(answer_));
    }
  }
  void finish() { pending(AuthResult(answer_)); }
  int calls = 0;
  bool deferred = false;
  AuthCallback pending;

 private:
  std::string method_, scheme_;
  AuthResult answer_;
  CredentialExtractor nowhere_;
};

identity::Identity who(std::string client, std::vector<std::string> scopes = {}) {
  identity::Identity id;
  id.client_id = std::move(client);
  id.scopes = std::move(scopes);
  id.auth_method = "test";
  return id;
}

struct Fixture {
  http::fields headers;
  config::RouteConfig route;
  AuthRequest request{headers, "GET", "/x", "/x", "127.0.0.1", "rid", route};
};

TEST(AuthChain, FirstMechanismThatFindsACredentialDecides) {
  Fixture fx;
  auto none = std::make_shared<ScriptedAuthenticator>("a", "ApiKey", AuthResult{});
  auto bad = std::make_shared<ScriptedAuthenticator>(
      "b", "Bearer", AuthResult::fail(Status::ExpiredCredential, "token expired"));
  auto good = std::make_shared<ScriptedAuthenticator>("c", "Bearer", AuthResult::ok(who("x")));
  AuthChain chain({none, bad, good});
  std::optional<AuthResult> got;
  chain.run(fx.request, [&](AuthResult&& r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, Status::ExpiredCredential);
  EXPECT_EQ(got->challenge, "Bearer");
  EXPECT_EQ(good->calls, 0);
}

TEST(AuthChain, NoCredentialAnywhereIsMissingCredentialWithEveryChallenge) {
  Fixture fx;
  auto a = std::make_shared<ScriptedAuthenticator>("a", "ApiKey", AuthResult{});
  auto b = std::make_shared<ScriptedAuthenticator>("b", "Bearer", AuthResult{});
  auto c = std::make_shared<ScriptedAuthenticator>("c", "Bearer", AuthResult{});
  AuthChain chain({a, b, c});
  std::optional<AuthResult> got;
  chain.run(fx.request, [&](AuthResult&& r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, Status::MissingCredential);
  EXPECT_EQ(chain.challenges(), (std::vector<std::string>{"ApiKey", "Bearer"}));
}

TEST(AuthChain, AsynchronousAnswersContinueTheChain) {
  Fixture fx;
  auto a = std::make_shared<ScriptedAuthenticator>("a", "ApiKey", AuthResult{});
  a->deferred = true;
  auto b = std::make_shared<ScriptedAuthenticator>("b", "Bearer", AuthResult::ok(who("app")));
  AuthChain chain({a, b});
  std::optional<AuthResult> got;
  chain.run(fx.request, [&](AuthResult&& r) { got = std::move(r); });
  EXPECT_FALSE(got);
  a->finish();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->status, Status::Ok);
  EXPECT_EQ(got->identity.client_id, "app");
}

TEST(AuthChain, AnOkWithoutAMethodNameIsRefused) {
  Fixture fx;
  auto sloppy =
      std::make_shared<ScriptedAuthenticator>("a", "Bearer", AuthResult::ok(identity::Identity{}));
  AuthChain chain({sloppy});
  std::optional<AuthResult> got;
  chain.run(fx.request, [&](AuthResult&& r) { got = std::move(r); });
  ASSERT_TRUE(got);
  EXPECT_NE(got->status, Status::Ok);
}

// A fake key shape: "ptk_" + 6 characters ending in "ok" (the real one checks a CRC).
bool fake_key(std::string_view s) {
  return s.ends_with("ok");
}
constexpr CredentialShapes kFakeShapes{"ptk_", 10, &fake_key, nullptr};

// A key in the query of a route that does not take keys there is removed before forwarding
// (issue 10, item 5): the upstream must never see one, whatever the parameter's name.
TEST(AuthChain, ScrubRemovesQueryParametersHoldingAKey) {
  AuthChain open_route({}, kFakeShapes);  // auth: none
  boost::beast::http::fields headers;
  std::string target = "/v1/x?page=2&api_key=ptk_1234ok&q=ptk_1234no&other=ptk_abcdok";
  open_route.scrub(headers, target);
  EXPECT_EQ(target, "/v1/x?page=2&q=ptk_1234no");
  target = "/v1/x?k=ptk_1234ok";
  open_route.scrub(headers, target);
  EXPECT_EQ(target, "/v1/x");
  // Percent-encoded, it is the same key to the upstream.
  target = "/v1/x?k=%70tk_1234ok&a=1";
  open_route.scrub(headers, target);
  EXPECT_EQ(target, "/v1/x?a=1");
  // Nothing key-shaped: the target is left exactly as it was.
  target = "/v1/x?a=%41&b=ptk_&c";
  open_route.scrub(headers, target);
  EXPECT_EQ(target, "/v1/x?a=%41&b=ptk_&c");
}

// The API key header goes on every route of a gateway with a key registry, in any spelling
// (found by an acceptance check: a key sent beside a JWT, or to an `auth: none` route,
// reached the upstream in clear).
TEST(AuthChain, ScrubRemovesTheApiKeyHeaderOnRoutesThatTakeNoKey) {
  AuthChain open_route({}, kFakeShapes, "X-API-Key");  // auth: none
  boost::beast::http::fields headers;
  headers.insert("x-api-key", "ptk_1234ok");
  headers.insert("X_Api_Key", "ptk_5678ok");
  headers.insert("X-API-Keys", "kept");
  headers.insert("Accept", "kept");
  std::string target = "/v1/x";
  open_route.scrub(headers, target);
  EXPECT_EQ(headers.count("X-API-Key"), 0u);
  EXPECT_EQ(headers.count("X_Api_Key"), 0u);
  EXPECT_EQ(headers["X-API-Keys"], "kept");
  EXPECT_EQ(headers["Accept"], "kept");

  AuthChain no_registry({}, kFakeShapes);  // no api_keys section: nothing is the key header
  headers.insert("X-API-Key", "theirs");
  no_registry.scrub(headers, target);
  EXPECT_EQ(headers["X-API-Key"], "theirs");
}

TEST(RoutePolicy, ScopesRolesAndClients) {
  config::RouteConfig r;
  r.require_scopes = {"orders:read"};
  policy::RoutePolicy p(r);
  EXPECT_EQ(p.check(who("c", {"orders:read", "x"})).status, Status::Ok);
  auto d = p.check(who("c", {"orders:write"}));
  EXPECT_EQ(d.status, Status::InsufficientScope);
  EXPECT_EQ(d.scope, "orders:read");

  config::RouteConfig any;
  any.require_any_scope = {"a", "b"};
  EXPECT_EQ(policy::RoutePolicy(any).check(who("c", {"b"})).status, Status::Ok);
  EXPECT_EQ(policy::RoutePolicy(any).check(who("c", {"c"})).status, Status::InsufficientScope);

  config::RouteConfig roles;
  roles.require_roles = {"admin"};
  auto id = who("c");
  EXPECT_EQ(policy::RoutePolicy(roles).check(id).status, Status::MissingRole);
  id.roles = {"admin"};
  EXPECT_EQ(policy::RoutePolicy(roles).check(id).status, Status::Ok);

  config::RouteConfig clients;
  clients.allow_clients = {"partner-1"};
  EXPECT_EQ(policy::RoutePolicy(clients).check(who("partner-2")).status, Status::ClientNotAllowed);
  EXPECT_EQ(policy::RoutePolicy(clients).check(who("partner-1")).status, Status::Ok);
}

TEST(Status, OneMappingToHttp) {
  EXPECT_EQ(http_status(Status::MissingCredential), 401u);
  EXPECT_EQ(error_code(Status::MissingCredential), "");
  EXPECT_EQ(http_status(Status::ExpiredCredential), 401u);
  EXPECT_EQ(error_code(Status::ExpiredCredential), "invalid_token");
  EXPECT_EQ(http_status(Status::InsufficientScope), 403u);
  EXPECT_EQ(error_code(Status::InsufficientScope), "insufficient_scope");
  EXPECT_EQ(http_status(Status::ProviderUnavailable), 503u);
  EXPECT_EQ(http_status(Status::AmbiguousCredential), 400u);
  // Every status has a distinct reason for logs and metrics.
  std::set<std::string_view> reasons;
  for (int s = static_cast<int>(Status::MissingCredential);
       s <= static_cast<int>(Status::CertBindingMismatch); ++s) {
    EXPECT_TRUE(reasons.insert(reason(static_cast<Status>(s))).second) << s;
  }
}

}  // namespace
}  // namespace portcullis::auth
