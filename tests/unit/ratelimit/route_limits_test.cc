// RouteLimits: which limits are judged when, the keys they count by, a per-client plan taking
// the place of the client_id limits, and the RateLimit header fields.
#include "ratelimit/route_limits.h"

#include <gtest/gtest.h>

namespace portcullis::ratelimit {
namespace {

using config::RateLimitConfig;
using config::RateLimitCount;
using config::RateLimitKey;

class RouteLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    add("partner-default", 100, 60, RateLimitKey::ClientId);
    add("per-ip", 20, 1, RateLimitKey::Ip);
    add("login-shield", 10, 60, RateLimitKey::Ip, RateLimitCount::FailedAuth);
    add("per-user", 5, 3600, RateLimitKey::UserId);
    add("whole", 1000, 60, RateLimitKey::Route);
    add("hourly-client", 500, 3600, RateLimitKey::ClientId);
    route.name = "partner";
  }
  void add(const std::string& name, std::uint64_t requests, std::uint32_t per, RateLimitKey key,
           RateLimitCount count = RateLimitCount::Requests) {
    RateLimitConfig l;
    l.name = name;
    l.requests = requests;
    l.per_s = per;
    l.key = key;
    l.count = count;
    config.rate_limits[name] = l;
  }
  config::Config config;
  config::RouteConfig route;
};

TEST_F(RouteLimitsTest, EachLimitIsJudgedAtItsStageByItsKey) {
  route.rate_limits = {"partner-default", "per-ip", "login-shield", "per-user", "whole"};
  RouteLimits limits(config, route);
  std::vector<Check> checks;
  AppliedList applied;
  limits.shield_checks("10.0.0.1", checks, applied);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].limit, "login-shield");
  EXPECT_EQ(checks[0].key, "ip:10.0.0.1");
  checks.clear();
  limits.before_auth_checks("10.0.0.1", checks, applied);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].key, "ip:10.0.0.1");
  EXPECT_EQ(checks[1].key, "route:partner");
  checks.clear();
  identity::Identity who;
  who.client_id = "partner-123";
  who.subject = "alice";
  limits.identity_checks(who, checks, applied);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].key, "client_id:partner-123");
  EXPECT_EQ(checks[0].requests, 100u);
  EXPECT_EQ(checks[1].key, "user_id:alice");
  EXPECT_EQ(applied.size(), 5u);
  // A machine client has no user: the user_id limit does not apply.
  checks.clear();
  who.subject.clear();
  limits.identity_checks(who, checks, applied);
  EXPECT_EQ(checks.size(), 1u);
}

TEST_F(RouteLimitsTest, APlanReplacesTheClientIdLimits) {
  route.rate_limits = {"partner-default", "per-user", "hourly-client"};
  RouteLimits limits(config, route);
  identity::Identity who;
  who.client_id = "partner-123";
  who.subject = "alice";
  who.rate_plan = identity::RatePlan{1000, 60};
  std::vector<Check> checks;
  AppliedList applied;
  limits.identity_checks(who, checks, applied);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].limit, "partner-default");  // named after the limit it replaces
  EXPECT_EQ(checks[0].key, "client_id:partner-123");
  EXPECT_EQ(checks[0].requests, 1000u);
  EXPECT_EQ(checks[0].per_s, 60u);
  EXPECT_EQ(applied[0].requests, 1000u);
  EXPECT_EQ(checks[1].limit, "per-user");  // not a client_id limit: still applies
  // Without a plan, both client_id limits apply.
  who.rate_plan.reset();
  checks.clear();
  limits.identity_checks(who, checks, applied);
  EXPECT_EQ(checks.size(), 3u);
}

TEST_F(RouteLimitsTest, HeaderFieldsListEveryShownLimit) {
  config.rate_limits["per-ip"].headers = false;
  route.rate_limits = {"partner-default", "per-ip", "whole"};
  RouteLimits limits(config, route);
  std::vector<Check> checks;
  AppliedList applied;
  limits.before_auth_checks("::1", checks, applied);
  set_outcomes(applied, {{true, 19, 1}, {true, 998, 17}});
  identity::Identity who;
  who.client_id = "c";
  limits.identity_checks(who, checks, applied);
  set_outcomes(applied, {{true, 42, 17}});
  EXPECT_EQ(first_refused(applied), nullptr);
  std::string lines;
  append_header_lines(applied, lines);
  EXPECT_EQ(lines,
            "RateLimit-Policy: \"whole\";q=1000;w=60, \"partner-default\";q=100;w=60\r\n"
            "RateLimit: \"whole\";r=998;t=17, \"partner-default\";r=42;t=17\r\n");
  applied.back().outcome.admitted = false;
  ASSERT_NE(first_refused(applied), nullptr);
  EXPECT_EQ(first_refused(applied)->limit->config->name, "partner-default");
  // Nothing shown: no fields at all.
  AppliedList hidden(applied.begin(), applied.begin() + 1);
  std::string none;
  append_header_lines(hidden, none);
  EXPECT_EQ(none, "");
}

// A route with one shown limit (most routes) gets its lines from a head made once; they must
// read exactly as the general form's, numbers of every length included; a plan's budget on
// that one limit is written as given.
TEST_F(RouteLimitsTest, OneLimitsFieldsReadAsTheGeneralForm) {
  route.rate_limits = {"per-ip"};
  RouteLimits limits(config, route);
  std::vector<Check> checks;
  for (const std::uint64_t remaining :
       {0ULL, 7ULL, 10ULL, 99ULL, 100ULL, 19ULL, 999999999999ULL, 18446744073709551615ULL}) {
    AppliedList applied;
    limits.before_auth_checks("10.0.0.1", checks, applied);
    set_outcomes(applied, {{true, remaining, 1}});
    std::string lines, policy, state;
    append_header_lines(applied, lines);
    ASSERT_TRUE(header_values(applied, policy, state));
    EXPECT_EQ(lines, "RateLimit-Policy: " + policy + "\r\nRateLimit: " + state + "\r\n");
    EXPECT_EQ(state, "\"per-ip\";r=" + std::to_string(remaining) + ";t=1");
    EXPECT_EQ(policy, "\"per-ip\";q=20;w=1");
  }
  route.rate_limits = {"partner-default"};
  RouteLimits planned(config, route);
  identity::Identity who;
  who.client_id = "c";
  who.rate_plan = identity::RatePlan{2500, 86400};
  AppliedList applied;
  planned.identity_checks(who, checks, applied);
  set_outcomes(applied, {{true, 2499, 86399}});
  std::string lines;
  append_header_lines(applied, lines);
  EXPECT_EQ(lines,
            "RateLimit-Policy: \"partner-default\";q=2500;w=86400\r\n"
            "RateLimit: \"partner-default\";r=2499;t=86399\r\n");
}

// The checks vector is reused from request to request: each stage sets it to its own checks,
// whatever it held before (more checks, longer or shorter keys).
TEST_F(RouteLimitsTest, ChecksAreSetInPlaceWhateverTheVectorHeld) {
  route.rate_limits = {"per-ip", "whole", "partner-default", "per-user"};
  RouteLimits limits(config, route);
  std::vector<Check> checks{
      {"stale", "ip:2001:db8::1:2:3:4:5", 1, 1}, {"a", "b", 2, 2}, {"c", "d", 3, 3}};
  AppliedList applied;
  limits.before_auth_checks("2001:db8::ffff", checks, applied);
  ASSERT_EQ(checks.size(), 2u);
  EXPECT_EQ(checks[0].limit, "per-ip");
  EXPECT_EQ(checks[0].key, "ip:2001:db8::ffff");
  EXPECT_EQ(checks[0].requests, 20u);
  EXPECT_EQ(checks[1].limit, "whole");
  EXPECT_EQ(checks[1].key, "route:partner");
  limits.before_auth_checks("10.1.2.3", checks, applied);
  EXPECT_EQ(checks[0].key, "ip:10.1.2.3");
  identity::Identity who;
  who.client_id = "c";
  limits.identity_checks(who, checks, applied);  // a machine client: no user_id limit
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_EQ(checks[0].limit, "partner-default");
  EXPECT_EQ(checks[0].key, "client_id:c");
  who.client_id.clear();
  limits.identity_checks(who, checks, applied);
  EXPECT_TRUE(checks.empty());
  EXPECT_EQ(applied.size(), 5u);  // an entry per check made
}

}  // namespace
}  // namespace portcullis::ratelimit
