// The `rate_limits` section, a route's `rate_limits` and `rate_limit_local`: what loads, and
// every mistake at its file:line:col.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "config/loader.h"

namespace portcullis::config {
namespace {

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

class RateLimitsConfigTest : public ::testing::Test {
 protected:
  void SetUp() override { setenv("PC_TEST_RL_PEPPER", "rate-limit-test-pepper", 1); }

  // A config with an api_keys section, the `limits` text as the rate_limits section and one
  // route listing `route_limits`.
  static std::string yaml(const std::string& limits, const std::string& route_limits,
                          const std::string& auth = "[api_key]", const std::string& more = "") {
    return "upstreams:\n"
           "  reports: { url: http://127.0.0.1:9001 }\n"
           "api_keys: { store: 'sqlite:/var/lib/pc/keys.db', pepper: '${PC_TEST_RL_PEPPER}' }\n"
           "rate_limits:\n" +
           limits +
           "routes:\n"
           "  - { name: partner, match: { path_prefix: /v1 }, upstream: reports, auth: " +
           auth + ", rate_limits: " + route_limits + " }\n" + more;
  }
  static LoadResult load(const std::string& text) {
    return load_config_string(text, "test.yaml", "/etc/pc");
  }
  static void expect_one_error(const std::string& text, int line, int col,
                               const std::string& message) {
    LoadResult r = load(text);
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.errors.size(), 1u) << all(r.errors);
    EXPECT_EQ(r.errors[0].line, line) << all(r.errors);
    EXPECT_EQ(r.errors[0].col, col) << all(r.errors);
    EXPECT_NE(r.errors[0].message.find(message), std::string::npos) << all(r.errors);
  }
};

TEST_F(RateLimitsConfigTest, TheIssuesShapeLoads) {
  LoadResult r =
      load(yaml("  partner-default: { requests: 100, per: 1m, key: client_id }\n"
                "  per-ip:          { requests: 20,  per: 1s, key: ip }\n"
                "  login-shield:    { requests: 10,  per: 1m, key: ip, count: failed_auth }\n"
                "  daily:           { requests: 5000, per: 1d, key: user_id, headers: false }\n"
                "  whole:           { requests: 7, per: 2h, key: route }\n",
                "[partner-default, per-ip, login-shield, daily, whole]"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const Config& c = *r.config;
  ASSERT_EQ(c.rate_limits.size(), 5u);
  const auto& p = c.rate_limits.at("partner-default");
  EXPECT_EQ(p.requests, 100u);
  EXPECT_EQ(p.per_s, 60u);
  EXPECT_EQ(p.key, RateLimitKey::ClientId);
  EXPECT_EQ(p.count, RateLimitCount::Requests);
  EXPECT_TRUE(p.headers);
  EXPECT_EQ(c.rate_limits.at("per-ip").per_s, 1u);
  EXPECT_EQ(c.rate_limits.at("login-shield").count, RateLimitCount::FailedAuth);
  EXPECT_EQ(c.rate_limits.at("daily").per_s, 86400u);
  EXPECT_FALSE(c.rate_limits.at("daily").headers);
  EXPECT_EQ(c.rate_limits.at("whole").per_s, 7200u);
  EXPECT_EQ(c.rate_limits.at("whole").key, RateLimitKey::Route);
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].rate_limits, (std::vector<std::string>{"partner-default", "per-ip",
                                                               "login-shield", "daily", "whole"}));
  // The state file defaults to beside the SQLite key store.
  EXPECT_EQ(c.rate_limit_local.state_file, "/var/lib/pc/ratelimit-state.db");
  EXPECT_EQ(c.rate_limit_local.max_keys, 1000000u);
}

TEST_F(RateLimitsConfigTest, LocalStoreSettings) {
  LoadResult r = load(yaml("  a: { requests: 1, per: 1s, key: ip }\n", "[a]", "[api_key]",
                           "rate_limit_local: { max_keys: 5000, state_file: state/rl.db, "
                           "persist_min: 30m, save_interval_s: 10 }\n"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->rate_limit_local.max_keys, 5000u);
  EXPECT_EQ(r.config->rate_limit_local.state_file, "/etc/pc/state/rl.db");
  EXPECT_EQ(r.config->rate_limit_local.persist_min_s, 1800u);
  EXPECT_EQ(r.config->rate_limit_local.save_interval_s, 10u);
  r = load(yaml("  a: { requests: 1, per: 1s, key: ip }\n", "[a]", "[api_key]",
                "rate_limit_local: { state_file: off }\n"));
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->rate_limit_local.state_file, "");
  expect_one_error(yaml("  a: { requests: 1, per: 1s, key: ip }\n", "[a]", "[api_key]",
                        "rate_limit_local: { max_keys: 0 }\n"),
                   8, 31, "'max_keys' must be between 1");
}

TEST_F(RateLimitsConfigTest, BadWindowsAreRefusedAtTheirValue) {
  for (const std::string per : {"1", "0s", "m", "1w", "-1s", "+1s", "1.5m", "367d", "1 m"}) {
    SCOPED_TRACE(per);
    expect_one_error(yaml("  a: { requests: 1, per: '" + per + "', key: ip }\n", "[a]"), 5, 26,
                     "'per' must be a window such as 30s, 1m, 12h or 1d");
  }
  EXPECT_EQ(parse_window("366d"), 366u * 86400u);
  EXPECT_EQ(parse_window("90s"), 90u);
  EXPECT_EQ(window_str(90), "90s");
  EXPECT_EQ(window_str(3600), "1h");
}

TEST_F(RateLimitsConfigTest, EveryMistakeInALimitIsReported) {
  expect_one_error(yaml("  a: { requests: 0, per: 1s, key: ip }\n", "[a]"), 5, 18,
                   "'requests' must be between 1");
  expect_one_error(yaml("  a: { requests: many, per: 1s, key: ip }\n", "[a]"), 5, 18,
                   "'requests' must be a whole number");
  expect_one_error(yaml("  a: { requests: 1, per: 1s, key: session }\n", "[a]"), 5, 35,
                   "'key' must be one of client_id, user_id, ip, route, not 'session'");
  expect_one_error(yaml("  a: { requests: 1, per: 1s, key: ip, count: errors }\n", "[a]"), 5, 46,
                   "'count' must be one of requests, failed_auth");
  expect_one_error(yaml("  a: { requests: 1, per: 1s, key: ip, headers: yes }\n", "[a]"), 5, 48,
                   "'headers' must be true or false");
  expect_one_error(yaml("  a: { requests: 1, per: 1s, key: ip, burst: 3 }\n", "[a]"), 5, 39,
                   "unknown key 'burst' in rate limit 'a'");
  expect_one_error(yaml("  a: { requests: 1, key: ip }\n", "[a]"), 5, 6,
                   "missing required key 'per' in rate limit 'a'");
  expect_one_error(
      yaml("  a: { requests: 1, per: 1m, key: client_id, count: failed_auth }\n", "[a]"), 5, 6,
      "count: failed_auth needs key: ip or key: route");
  expect_one_error(yaml("  a b: { requests: 1, per: 1m, key: ip }\n", "['a b']"), 5, 3,
                   "rate limit name 'a b' may only use");
  expect_one_error(yaml("  a: 5\n", "[a]"), 5, 6, "rate limit 'a' must be a map");
}

TEST_F(RateLimitsConfigTest, RouteMistakesAreReportedAtTheItem) {
  const std::string limits =
      "  per-ip: { requests: 1, per: 1s, key: ip }\n"
      "  partner: { requests: 1, per: 1s, key: client_id }\n"
      "  shield: { requests: 1, per: 1s, key: ip, count: failed_auth }\n";
  // Line 9 is the route; its rate_limits list starts at column 101.
  expect_one_error(yaml(limits, "[per_ip]"), 9, 101,
                   "rate limit 'per_ip' is not defined in rate_limits (did you mean 'per-ip'?)");
  expect_one_error(yaml(limits, "[per-ip, per-ip]"), 9, 109, "rate limit 'per-ip' is listed twice");
  expect_one_error(yaml(limits, "[partner]", "none"), 9, 96,
                   "rate limit 'partner' (key: client_id) needs an authenticated route");
  expect_one_error(yaml(limits, "[shield]", "none"), 9, 96,
                   "rate limit 'shield' (count: failed_auth) needs an authenticated route");
  expect_one_error(yaml(limits, "per-ip"), 9, 100, "'rate_limits' must be a list");
  // An ip limit on an open route is fine.
  EXPECT_TRUE(load(yaml(limits, "[per-ip]", "none")).ok());
}

}  // namespace
}  // namespace portcullis::config
