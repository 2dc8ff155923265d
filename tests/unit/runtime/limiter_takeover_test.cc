// The runtime's one rate limiter: built when a route lists a limit, taken over by the next
// build while rate_limit_local is unchanged (counters survive a reload), built anew when it
// changes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "config/loader.h"
#include "ratelimit/local_limiter.h"
#include "runtime/runtime.h"

namespace portcullis::runtime {
namespace {

class LimiterTakeoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("pc-limiter-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  std::shared_ptr<const Runtime> build(const std::string& route_extra, const std::string& more,
                                       std::shared_ptr<const Runtime> previous = nullptr) {
    const std::string yaml =
        "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
        "rate_limits: { per-ip: { requests: 2, per: 1h, key: ip } }\n"
        "routes:\n"
        "  - { name: r, match: { path_prefix: / }, upstream: u, auth: none" +
        route_extra + " }\n" + more;
    auto loaded = config::load_config_string(yaml, "t.yaml", dir.string());
    EXPECT_TRUE(loaded.ok()) << (loaded.errors.empty() ? "" : loaded.errors[0].str());
    if (!loaded.ok()) return nullptr;
    std::string error;
    auto rt = build_runtime(loaded.config, std::move(previous), error);
    EXPECT_TRUE(rt) << error;
    return rt;
  }
  std::filesystem::path dir;
};

TEST_F(LimiterTakeoverTest, NoLimitNoLimiter) {
  auto rt = build("", "");
  ASSERT_TRUE(rt);
  EXPECT_FALSE(rt->limiter);
  EXPECT_FALSE(std::filesystem::exists(dir / "ratelimit-state.db"));
}

TEST_F(LimiterTakeoverTest, OnlyWindowsLongEnoughMakeAStateFile) {
  auto rt = build(", rate_limits: [per-ip]", "rate_limit_local: { persist_min: 2h }\n");
  ASSERT_TRUE(rt && rt->limiter);
  EXPECT_EQ(rt->local_limiter->options().state_file, "");
  EXPECT_FALSE(std::filesystem::exists(dir / "ratelimit-state.db"));
}

TEST_F(LimiterTakeoverTest, AReloadKeepsTheLimiterAndItsCounters) {
  auto first = build(", rate_limits: [per-ip]", "");
  ASSERT_TRUE(first && first->limiter);
  EXPECT_TRUE(first->routes[0].limits.has_before_auth());
  EXPECT_EQ(first->local_limiter->options().state_file, (dir / "ratelimit-state.db").string());
  first->local_limiter->admit_now({{"per-ip", "ip:a", 2, 3600}});
  // Another route, the limit resized: the same limiter, the count goes on.
  auto second =
      build(", rate_limits: [per-ip]",
            "  - { name: s, match: { path_prefix: /s }, upstream: u, auth: none }\n", first);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->limiter, first->limiter);
  EXPECT_EQ(second->local_limiter->peek_now({{"per-ip", "ip:a", 2, 3600}})[0].remaining, 1u);
  // A changed local store: a new limiter, which reads back what the old one saved.
  auto third = build(", rate_limits: [per-ip]", "rate_limit_local: { max_keys: 10 }\n", second);
  ASSERT_TRUE(third);
  EXPECT_NE(third->limiter, second->limiter);
  EXPECT_EQ(third->local_limiter->options().max_keys, 10u);
  EXPECT_EQ(third->local_limiter->peek_now({{"per-ip", "ip:a", 2, 3600}})[0].remaining, 1u);
}

TEST_F(LimiterTakeoverTest, AnUnwritableStateFolderIsReportedAtItsLine) {
  auto loaded = config::load_config_string(
      "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
      "rate_limits: { per-ip: { requests: 2, per: 1h, key: ip } }\n"
      "rate_limit_local: { state_file: /nonexistent-pc-dir/rl.db }\n"
      "routes:\n"
      "  - { name: r, match: { path_prefix: / }, upstream: u, auth: none, rate_limits: [per-ip] "
      "}\n",
      "t.yaml", dir.string());
  ASSERT_TRUE(loaded.ok());
  config::check_loaded(loaded, "t.yaml", check_config);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].line, 3);
  EXPECT_EQ(loaded.errors[0].col, 33);
  EXPECT_NE(loaded.errors[0].message.find("cannot open the rate limit state file"),
            std::string::npos)
      << loaded.errors[0].str();
}

}  // namespace
}  // namespace portcullis::runtime
