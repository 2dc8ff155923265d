// rate_limit_store: what loads, the defaults, and each mistake at its file:line:col.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "config/loader.h"

namespace portcullis::config {
namespace {

// The store section goes first, so positions are as written.
LoadResult load(const std::string& store) {
  return load_config_string(
      store +
          "upstreams: { up: { url: http://127.0.0.1:9001 } }\n"
          "routes: [{ name: r, match: { path: /x }, upstream: up, auth: none }]\n",
      "test.yaml", "/etc/pc");
}

std::string all(const std::vector<Diagnostic>& ds) {
  std::string out;
  for (const auto& d : ds) out += d.str() + "\n";
  return out;
}

TEST(RateLimitStoreTest, AbsentMeansLocal) {
  LoadResult r = load("");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_FALSE(r.config->rate_limit_store);
}

TEST(RateLimitStoreTest, TheIssuesShapeLoads) {
  ::setenv("PC_TEST_REDIS_PASSWORD", "redis-pw-123", 1);
  LoadResult r = load(
      "rate_limit_store: { url: \"redis://127.0.0.1:6380/2\", password: "
      "\"${PC_TEST_REDIS_PASSWORD}\","
      " timeout_ms: 80, on_error: deny }\n");
  ::unsetenv("PC_TEST_REDIS_PASSWORD");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_TRUE(r.warnings.empty()) << all(r.warnings);
  const auto& s = *r.config->rate_limit_store;
  EXPECT_EQ(s.host, "127.0.0.1");
  EXPECT_EQ(s.port, 6380);
  EXPECT_EQ(s.db, 2u);
  EXPECT_EQ(s.password.reveal(), "redis-pw-123");
  EXPECT_EQ(s.timeout_ms, 80u);
  EXPECT_EQ(s.on_error, StoreErrorMode::Deny);
}

TEST(RateLimitStoreTest, Defaults) {
  LoadResult r = load("rate_limit_store: { url: \"redis://cache.internal\" }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  const auto& s = *r.config->rate_limit_store;
  EXPECT_EQ(s.host, "cache.internal");
  EXPECT_EQ(s.port, 6379);
  EXPECT_EQ(s.db, 0u);
  EXPECT_TRUE(s.password.empty());
  EXPECT_EQ(s.timeout_ms, 50u);
  EXPECT_EQ(s.on_error, StoreErrorMode::Local);
}

TEST(RateLimitStoreTest, AnAclUserComesFromTheUrl) {
  LoadResult r = load("rate_limit_store: { url: \"redis://gateway@127.0.0.1/1\" }\n");
  ASSERT_TRUE(r.ok()) << all(r.errors);
  EXPECT_EQ(r.config->rate_limit_store->username, "gateway");
}

TEST(RateLimitStoreTest, EachMistakeAtItsPosition) {
  LoadResult r = load(
      "rate_limit_store:\n"
      "  url: \"redis://:hunter2@127.0.0.1:6379/0\"\n"
      "  password: hunter2\n"
      "  timeout_ms: 0\n"
      "  on_error: maybe\n"
      "  timeout: 5\n");
  ASSERT_FALSE(r.ok());
  const std::string text = all(r.errors);
  EXPECT_NE(
      text.find("test.yaml:2:8: invalid rate_limit_store.url 'redis://:***@127.0.0.1:6379/0': "
                "the password goes in rate_limit_store.password"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("test.yaml:3:13: rate_limit_store.password must be a reference"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("test.yaml:4:15:"), std::string::npos) << text;
  EXPECT_NE(text.find("test.yaml:5:13: rate_limit_store.on_error 'maybe' must be local, allow or "
                      "deny"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("test.yaml:6:3:"), std::string::npos) << text;
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;  // never the password
}

TEST(RateLimitStoreTest, UrlShapes) {
  for (const char* bad : {"rediss://127.0.0.1:6379/0", "http://127.0.0.1/0", "redis:///0",
                          "redis://127.0.0.1:0/0", "redis://127.0.0.1/zero",
                          "redis://127.0.0.1/0/1", "redis://127.0.0.1/0?x=1", "not a url"}) {
    LoadResult r = load(std::string("rate_limit_store: { url: '") + bad + "' }\n");
    EXPECT_FALSE(r.ok()) << bad;
    ASSERT_FALSE(r.errors.empty()) << bad;
    EXPECT_EQ(r.errors[0].line, 1) << bad;
  }
  LoadResult tls = load("rate_limit_store: { url: 'rediss://127.0.0.1:6379/0' }\n");
  EXPECT_NE(all(tls.errors).find("not supported yet"), std::string::npos) << all(tls.errors);
  LoadResult missing = load("rate_limit_store: { timeout_ms: 10 }\n");
  EXPECT_NE(all(missing.errors).find("url"), std::string::npos) << all(missing.errors);
}

}  // namespace
}  // namespace portcullis::config
