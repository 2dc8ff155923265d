// With rate_limit_store the runtime's limiter is the shared one over the local one, taken
// over by the next build while both stores' settings are unchanged (its Redis connection and
// slices survive a reload), built anew when the store changes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <future>

#include "config/loader.h"
#include "ratelimit/local_limiter.h"
#include "runtime/runtime.h"

namespace portcullis::runtime {
namespace {

class SharedLimiterTakeoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = std::filesystem::temp_directory_path() /
          ("pc-shared-limiter-" + std::to_string(::getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir);
  }
  void TearDown() override { std::filesystem::remove_all(dir); }

  // Port 9 (discard) on loopback: nothing answers, the client keeps retrying in the
  // background, which is all these tests need.
  std::shared_ptr<const Runtime> build(const std::string& store,
                                       std::shared_ptr<const Runtime> previous = nullptr) {
    const std::string yaml =
        "upstreams: { u: { url: http://127.0.0.1:9 } }\n"
        "rate_limits: { per-ip: { requests: 2, per: 1m, key: ip } }\n"
        "routes:\n"
        "  - { name: r, match: { path_prefix: / }, upstream: u, auth: none, "
        "rate_limits: [per-ip] }\n" +
        store;
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

TEST_F(SharedLimiterTakeoverTest, TheStoreMakesTheLimiterSharedAndAReloadKeepsIt) {
  const std::string store = "rate_limit_store: { url: 'redis://127.0.0.1:9/0', timeout_ms: 20 }\n";
  auto first = build(store);
  ASSERT_TRUE(first && first->limiter && first->local_limiter);
  EXPECT_NE(first->limiter.get(), first->local_limiter.get());  // shared, over the local one
  auto second = build(store, first);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->limiter, first->limiter);
  EXPECT_EQ(second->local_limiter, first->local_limiter);
  // A changed store: a new shared limiter over the same local one.
  auto third =
      build("rate_limit_store: { url: 'redis://127.0.0.1:9/0', timeout_ms: 30 }\n", second);
  ASSERT_TRUE(third);
  EXPECT_NE(third->limiter, second->limiter);
  EXPECT_EQ(third->local_limiter, second->local_limiter);
  // No store any more: the local one alone.
  auto fourth = build("", third);
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->limiter.get(), fourth->local_limiter.get());
}

TEST_F(SharedLimiterTakeoverTest, RedisDownOnErrorLocalAnswersFromTheLocalLimiter) {
  auto rt = build("rate_limit_store: { url: 'redis://127.0.0.1:9/0', timeout_ms: 20 }\n");
  ASSERT_TRUE(rt && rt->limiter);
  std::vector<bool> admitted;
  for (int i = 0; i < 3; ++i) {
    std::promise<std::vector<ratelimit::Outcome>> p;
    rt->limiter->admit({{"per-ip", "ip:a", 2, 60}},
                       [&p](std::vector<ratelimit::Outcome> o) { p.set_value(std::move(o)); });
    auto f = p.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(2)), std::future_status::ready);
    admitted.push_back(f.get()[0].admitted);
  }
  EXPECT_EQ(admitted, (std::vector<bool>{true, true, false}));  // the local limiter's 2
}

}  // namespace
}  // namespace portcullis::runtime
