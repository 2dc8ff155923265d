// The oauth2_providers section: defaults, every key, and errors at file:line:col.
#include <gtest/gtest.h>

#include <cstdlib>

#include "auth/oauth2/oauth2_authenticator.h"
#include "config/loader.h"
#include "fakes.h"

namespace portcullis::config {
namespace {

constexpr const char* kHead =
    "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
    "oauth2_providers:\n"
    "  idp:\n";

std::string with_route(const std::string& providers, const std::string& auth = "[oauth2:idp]") {
  return std::string(kHead) + providers +
         "routes:\n  - { name: r, match: { path_prefix: / }, upstream: u, auth: " + auth + " }\n";
}

std::string errors(const LoadResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

class OAuth2ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("OAUTH2_TEST_SECRET", "s3cret", 1); }
};

TEST_F(OAuth2ConfigTest, DefaultsAndTheMinimalProvider) {
  auto r = load_config_string(with_route(
                                  "    introspection_endpoint: http://127.0.0.1:9100/token/introspection\n"
                                  "    client_id: gateway\n"
                                  "    client_secret: ${OAUTH2_TEST_SECRET}\n"),
                              "gw.yaml");
  ASSERT_TRUE(r.ok()) << errors(r);
  const auto& p = r.config->oauth2_providers.at("idp");
  EXPECT_EQ(p.name, "idp");
  EXPECT_EQ(p.introspection_endpoint.host, "127.0.0.1");
  EXPECT_EQ(p.introspection_endpoint.port, 9100);
  EXPECT_EQ(p.introspection_endpoint.target, "/token/introspection");
  EXPECT_TRUE(p.discovery.empty());
  EXPECT_EQ(p.client_id, "gateway");
  EXPECT_EQ(p.client_secret.reveal(), "s3cret");
  EXPECT_EQ(p.auth_method, ClientAuthMethod::ClientSecretBasic);
  EXPECT_FALSE(p.issuer);
  EXPECT_TRUE(p.audiences.empty());
  EXPECT_EQ(p.timeout_ms, 2000u);
  EXPECT_EQ(p.cache_s, 60u);
  EXPECT_EQ(p.negative_cache_s, 10u);
  EXPECT_EQ(p.cache_entries, 100000u);
  EXPECT_EQ(p.breaker_failures, 5u);
  EXPECT_EQ(p.breaker_open_s, 5u);
  EXPECT_TRUE(p.gates_readiness);
  EXPECT_EQ(p.line, 3);
  EXPECT_EQ(r.config->routes.at(0).auth, (std::vector<AuthMethod>{{AuthKind::OAuth2, "idp"}}));
}

TEST_F(OAuth2ConfigTest, EveryKey) {
  auto r = load_config_string(with_route(
                             "    discovery: http://idp.test/.well-known/openid-configuration\n"
                             "    client_id: gateway\n"
                             "    client_secret: ${OAUTH2_TEST_SECRET}\n"
                             "    auth_method: client_secret_post\n"
                             "    issuer: http://idp.test\n"
                             "    audiences: [api://orders, api://all]\n"
                             "    timeout_ms: 500\n"
                             "    cache_s: 0\n"
                             "    negative_cache_s: 3\n"
                             "    cache_entries: 1000\n"
                             "    scopes_claim: authz.scopes\n"
                             "    roles_claim: realm_access.roles\n"
                             "    rate_limit_claim: ext.plan\n"
                             "    breaker_failures: 2\n"
                             "    breaker_open_s: 30\n"
                             "    gates_readiness: false\n"),
                         "gw.yaml");
  ASSERT_TRUE(r.ok()) << errors(r);
  const auto& p = r.config->oauth2_providers.at("idp");
  EXPECT_TRUE(p.introspection_endpoint.empty());
  EXPECT_EQ(p.discovery.target, "/.well-known/openid-configuration");
  EXPECT_EQ(p.auth_method, ClientAuthMethod::ClientSecretPost);
  EXPECT_EQ(p.issuer.value_or(""), "http://idp.test");
  EXPECT_EQ(p.audiences, (std::vector<std::string>{"api://orders", "api://all"}));
  EXPECT_EQ(p.timeout_ms, 500u);
  EXPECT_EQ(p.cache_s, 0u);
  EXPECT_EQ(p.negative_cache_s, 3u);
  EXPECT_EQ(p.cache_entries, 1000u);
  EXPECT_EQ(p.scopes_claim, "authz.scopes");
  EXPECT_EQ(p.roles_claim, "realm_access.roles");
  EXPECT_EQ(p.rate_limit_claim, "ext.plan");
  EXPECT_EQ(p.breaker_failures, 2u);
  EXPECT_EQ(p.breaker_open_s, 30u);
  EXPECT_FALSE(p.gates_readiness);
}

TEST_F(OAuth2ConfigTest, ErrorsPointAtTheValue) {
  struct Case {
    std::string body;
    std::string expected;  // substring of the errors, with its line:col
  };
  const std::string ok_id = "    client_id: gateway\n    client_secret: ${OAUTH2_TEST_SECRET}\n";
  const std::string ep = "    introspection_endpoint: http://127.0.0.1:9100/i\n";
  const Case cases[] = {
      {"    introspection_endpoint: ftp://idp.test/i\n" + ok_id,
       "gw.yaml:4:29: invalid introspection_endpoint 'ftp://idp.test/i': expected http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH"},
      {ep + ok_id + "    tls_verify: false\n",
       "gw.yaml:7:5: 'tls_verify' applies to TLS only: oauth2 provider 'idp' needs an https:// introspection_endpoint or discovery"},
      {ep + "    client_id: gateway\n    client_secret: plain\n",
       "gw.yaml:6:20: client_secret must be a reference"},
      {ep + "    client_id: gateway\n    client_secret: ${OAUTH2_TEST_UNSET_VAR}\n",
       "gw.yaml:6:20: client_secret: environment variable 'OAUTH2_TEST_UNSET_VAR' is not set"},
      {ep + "    client_id: gateway\n", "gw.yaml:4:5: missing required key 'client_secret'"},
      {ok_id, "gw.yaml:4:5: oauth2 provider 'idp' needs exactly one of 'introspection_endpoint' or 'discovery'"},
      {ep + "    discovery: http://idp.test/d\n" + ok_id, "needs exactly one of"},
      {ep + ok_id + "    cache_ss: 3\n", "gw.yaml:7:5: unknown key 'cache_ss' in oauth2 provider 'idp' (did you mean 'cache_s'?)"},
      {ep + ok_id + "    auth_method: private_key_jwt\n", "gw.yaml:7:18: auth_method 'private_key_jwt' must be client_secret_basic or client_secret_post"},
      {ep + ok_id + "    timeout_ms: 0\n", "gw.yaml:7:17: 'timeout_ms' must be between 1 and 60000"},
      {ep + ok_id + "    cache_s: -1\n", "gw.yaml:7:14: 'cache_s' must be a whole number"},
      {ep + ok_id + "    audiences: []\n", "gw.yaml:7:16: 'audiences' must be a non-empty list"},
      {ep + ok_id + "    roles_claim: a..b\n", "gw.yaml:7:18: 'roles_claim' must be a claim name or a dotted path"},
      {ep + ok_id + "    rate_limit_claim: \"my plan\"\n", "gw.yaml:7:23: 'rate_limit_claim' must be a claim name or a dotted path"},
      {ep + ok_id + "    rate_limit_claim: [plan]\n", "gw.yaml:7:23:"},
      {ep + ok_id + "    cache_s: 1\n    cache_s: 2\n", "gw.yaml:8:5: duplicate key 'cache_s'"},
  };
  for (const auto& c : cases) {
    auto r = load_config_string(with_route(c.body), "gw.yaml");
    EXPECT_FALSE(r.ok()) << c.body;
    EXPECT_NE(errors(r).find(c.expected), std::string::npos) << errors(r) << "expected: " << c.expected;
  }
}

TEST_F(OAuth2ConfigTest, RoutesMustNameAConfiguredProvider) {
  auto r = load_config_string(
      with_route("    introspection_endpoint: http://127.0.0.1:9100/i\n    client_id: g\n"
                 "    client_secret: ${OAUTH2_TEST_SECRET}\n",
                 "[oauth2:other]"),
      "gw.yaml");
  EXPECT_NE(errors(r).find("gw.yaml:8:63: "), std::string::npos) << errors(r);
  EXPECT_NE(errors(r).find("auth method 'oauth2:other' names no provider in oauth2_providers"),
            std::string::npos)
      << errors(r);
  auto none = load_config_string(
      "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
      "routes:\n  - { name: r, match: { path_prefix: / }, upstream: u, auth: [oauth2:idp] }\n",
      "gw.yaml");
  EXPECT_NE(errors(none).find("not available (no oauth2_providers configured)"), std::string::npos)
      << errors(none);
}

TEST_F(OAuth2ConfigTest, ProvidersAreKeptAcrossReloadsWhileTheirSettingsStay) {
  auto transport = std::make_shared<auth::oauth2::testing::FakeTransport>();
  auto load = [](const std::string& cache) {
    auto r = load_config_string(with_route("    introspection_endpoint: http://127.0.0.1:9100/i\n"
                                           "    client_id: g\n"
                                           "    client_secret: ${OAUTH2_TEST_SECRET}\n"
                                           "    cache_s: " + cache + "\n"),
                                "gw.yaml");
    EXPECT_TRUE(r.ok()) << errors(r);
    return r.config;
  };
  auto c1 = load("60");
  auto p1 = auth::oauth2::open_provider(c1->oauth2_providers.at("idp"), nullptr, transport);
  auto p2 = auth::oauth2::open_provider(load("60")->oauth2_providers.at("idp"), p1, transport);
  EXPECT_EQ(p1, p2);  // same settings: same cache and breaker
  // Whether it gates readiness is not a setting of the provider.
  OAuth2ProviderConfig ungated = load("60")->oauth2_providers.at("idp");
  ungated.gates_readiness = false;
  EXPECT_EQ(auth::oauth2::open_provider(ungated, p1, transport), p1);
  auto p3 = auth::oauth2::open_provider(load("30")->oauth2_providers.at("idp"), p2, transport);
  EXPECT_NE(p1, p3);
  EXPECT_EQ(p3->config().cache_s, 30u);
}

}  // namespace
}  // namespace portcullis::config
