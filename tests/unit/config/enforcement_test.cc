// `enforcement: enforce | shadow` on a route (shadow mode, docs/shadow-mode.md): the values,
// misspellings refused at file:line:col, the warning every shadow route gets, and a shadow
// route counted as weaker than an enforcing one it takes requests from.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "config/loader.h"

namespace portcullis::config {
namespace {

class EnforcementTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("PC_TEST_SHADOW_PEPPER", "shadow-test-pepper", 1); }
  void TearDown() override { unsetenv("PC_TEST_SHADOW_PEPPER"); }
  // Line 1-2 upstreams, 3 api_keys, 4 "routes:", routes from line 5.
  static LoadResult with_routes(const std::string& routes) {
    return load_config_string(
        "upstreams:\n"
        "  orders: { url: http://127.0.0.1:9001 }\n"
        "api_keys: { store: 'sqlite:k.db', pepper: '${PC_TEST_SHADOW_PEPPER}' }\n"
        "routes:\n" +
            routes,
        "test.yaml", "/etc/pc");
  }
  static std::string all(const std::vector<Diagnostic>& ds) {
    std::string out;
    for (const auto& d : ds) out += d.str() + "\n";
    return out;
  }
};

TEST_F(EnforcementTest, DefaultsToEnforceWithNoWarning) {
  LoadResult r = with_routes(
      "  - { name: orders, match: { path_prefix: /orders }, upstream: orders, auth: [api_key] }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].enforcement, Enforcement::Enforce);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
}

TEST_F(EnforcementTest, EnforceAndShadowAreRead) {
  LoadResult r = with_routes(
      "  - { name: a, match: { path: /a }, upstream: orders, auth: [api_key], "
      "enforcement: enforce }\n"
      "  - { name: b, match: { path: /b }, upstream: orders, auth: [api_key], "
      "require_scopes: [orders:read], enforcement: shadow }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].enforcement, Enforcement::Enforce);
  EXPECT_EQ(r.config->routes[1].enforcement, Enforcement::Shadow);
}

// `check` prints every shadow route: a warning at its `enforcement` value.
TEST_F(EnforcementTest, EveryShadowRouteIsAWarningAtItsValue) {
  LoadResult r = with_routes(
      "  - { name: a, match: { path: /a }, upstream: orders, auth: [api_key] }\n"
      "  - { name: orders, match: { path: /b }, upstream: orders, auth: [api_key], "
      "enforcement: shadow }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  ASSERT_EQ(r.warnings.size(), 1u) << all(r.warnings);
  EXPECT_EQ(r.warnings[0].str(),
            "test.yaml:6:90: route 'orders' is in shadow mode (enforcement: shadow): requests it "
            "would refuse (401, 403, 429, an unavailable identity provider) are forwarded to "
            "its upstream without identity");
}

TEST_F(EnforcementTest, MisspellingsAreRefusedAtTheValue) {
  const struct {
    std::string value;
    std::string message;
  } cases[] = {
      {"shadows",
       "'enforcement' must be enforce or shadow, not 'shadows' (did you mean 'shadow'?)"},
      {"Shadow", "'enforcement' must be enforce or shadow, not 'Shadow' (did you mean 'shadow'?)"},
      {"enforced",
       "'enforcement' must be enforce or shadow, not 'enforced' (did you mean 'enforce'?)"},
      {"dry-run", "'enforcement' must be enforce or shadow, not 'dry-run'"},
      {"'true'", "'enforcement' must be enforce or shadow, not 'true'"},
  };
  for (const auto& c : cases) {
    LoadResult r = with_routes(
        "  - { name: orders, match: { path: /b }, upstream: orders, auth: [api_key], "
        "enforcement: " +
        c.value + " }\n");
    EXPECT_FALSE(r.ok()) << c.value;
    ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
    EXPECT_EQ(r.errors[0].str(), "test.yaml:5:90: " + c.message);
  }
}

TEST_F(EnforcementTest, NotAStringIsRefused) {
  LoadResult r = with_routes(
      "  - { name: orders, match: { path: /b }, upstream: orders, auth: [api_key], "
      "enforcement: [shadow] }\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(r.errors[0].line, 5);
  EXPECT_EQ(r.errors[0].col, 90);
}

TEST_F(EnforcementTest, ShadowOnAnUnauthenticatedRouteIsAnErrorUnlessItIsLimited) {
  LoadResult r = with_routes(
      "  - { name: open, match: { path: /b }, upstream: orders, auth: none, "
      "enforcement: shadow }\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_EQ(r.errors[0].str(),
            "test.yaml:5:83: 'enforcement: shadow' has nothing to shadow: the route has auth: "
            "none and no rate_limits");
  // A rate limit is something to shadow.
  r = load_config_string(
      "upstreams:\n"
      "  orders: { url: http://127.0.0.1:9001 }\n"
      "rate_limits:\n"
      "  per-ip: { requests: 5, per: 1s, key: ip }\n"
      "routes:\n"
      "  - { name: open, match: { path: /b }, upstream: orders, auth: none, "
      "rate_limits: [per-ip], enforcement: shadow }\n",
      "test.yaml", "/etc/pc");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->routes[0].enforcement, Enforcement::Shadow);
}

// A shadow route in front of an enforcing one it takes requests from lets them through: the
// same error as any weaker route (unless `shadows` names it).
TEST_F(EnforcementTest, AShadowRouteBeforeAnEnforcingOneItOverlapsIsWeaker) {
  LoadResult r = with_routes(
      "  - { name: orders, match: { path_prefix: /orders }, upstream: orders, auth: [api_key], "
      "enforcement: shadow }\n"
      "  - { name: admin, match: { path_prefix: /orders/admin }, upstream: orders, "
      "auth: [api_key] }\n");
  ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
  EXPECT_NE(r.errors[0].message.find("with weaker authentication (enforcement: shadow)"),
            std::string::npos)
      << all(r.errors);
  // Both in shadow: neither refuses, so neither is weaker.
  r = with_routes(
      "  - { name: orders, match: { path_prefix: /orders }, upstream: orders, auth: [api_key], "
      "enforcement: shadow }\n"
      "  - { name: admin, match: { path_prefix: /orders/admin }, upstream: orders, "
      "auth: [api_key], enforcement: shadow }\n");
  EXPECT_TRUE(r.ok()) << all(r.errors);
}

}  // namespace
}  // namespace portcullis::config
