// LocalLimiter with an injected clock: exact counts at the boundary, windows aligned to the
// epoch and rolling over, several checks admitted together or not at all, the shield's
// peek/record, eviction of ended windows, the key cap (fail closed) and the state file.
#include "ratelimit/local_limiter.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <optional>
#include <thread>

namespace portcullis::ratelimit {
namespace {

class LocalLimiterTest : public ::testing::Test {
 protected:
  std::shared_ptr<LocalLimiter> make(std::uint64_t max_keys = 1000, std::string file = {}) {
    LocalLimiter::Options o;
    o.max_keys = max_keys;
    o.state_file = std::move(file);
    o.background = false;
    o.now_s = [this] { return now.load(); };
    std::string error;
    auto l = LocalLimiter::create(std::move(o), error);
    EXPECT_TRUE(l) << error;
    return l;
  }
  static Check check(std::string key, std::uint64_t requests, std::uint32_t per_s,
                     std::string limit = "l") {
    return {std::move(limit), std::move(key), requests, per_s};
  }
  std::atomic<std::int64_t> now{1'700'000'080};  // 40 s into a minute
};

TEST_F(LocalLimiterTest, AdmitsExactlyTheBudgetThenRefusesUntilTheWindowEnds) {
  auto l = make();
  for (std::uint64_t i = 0; i < 5; ++i) {
    auto o = l->admit_now({check("ip:a", 5, 60)});
    ASSERT_TRUE(o[0].admitted) << i;
    EXPECT_EQ(o[0].remaining, 4 - i);
    EXPECT_EQ(o[0].reset_s, 20u);  // the window is aligned to the epoch: ends at :00
  }
  auto o = l->admit_now({check("ip:a", 5, 60)});
  EXPECT_FALSE(o[0].admitted);
  EXPECT_EQ(o[0].remaining, 0u);
  now += 19;  // the last second of the window
  EXPECT_FALSE(l->admit_now({check("ip:a", 5, 60)})[0].admitted);
  EXPECT_EQ(l->admit_now({check("ip:a", 5, 60)})[0].reset_s, 1u);
  now += 1;  // the next window
  o = l->admit_now({check("ip:a", 5, 60)});
  EXPECT_TRUE(o[0].admitted);
  EXPECT_EQ(o[0].remaining, 4u);
  EXPECT_EQ(o[0].reset_s, 60u);
}

TEST_F(LocalLimiterTest, KeysAndLimitsCountApart) {
  auto l = make();
  EXPECT_TRUE(l->admit_now({check("client_id:a", 1, 60)})[0].admitted);
  EXPECT_FALSE(l->admit_now({check("client_id:a", 1, 60)})[0].admitted);
  EXPECT_TRUE(l->admit_now({check("client_id:b", 1, 60)})[0].admitted);
  EXPECT_TRUE(l->admit_now({check("client_id:a", 1, 60, "other")})[0].admitted);
}

TEST_F(LocalLimiterTest, SeveralChecksAreAdmittedTogetherOrNotAtAll) {
  auto l = make();
  const std::vector<Check> both{check("ip:a", 3, 60, "wide"), check("ip:a", 1, 60, "narrow")};
  auto o = l->admit_now(both);
  ASSERT_TRUE(o[0].admitted && o[1].admitted);
  EXPECT_EQ(o[0].remaining, 2u);
  o = l->admit_now(both);
  EXPECT_TRUE(o[0].admitted);  // it would, but nothing is taken:
  EXPECT_FALSE(o[1].admitted);
  EXPECT_EQ(l->peek_now({check("ip:a", 3, 60, "wide")})[0].remaining, 2u);
}

TEST_F(LocalLimiterTest, PeekTakesNothingAndRecordTakesOne) {
  auto l = make();
  for (int i = 0; i < 3; ++i) {
    auto o = l->peek_now({check("ip:x", 3, 60, "shield")});
    ASSERT_TRUE(o[0].admitted);
    EXPECT_EQ(o[0].remaining, 3u - static_cast<unsigned>(i));
    l->record(check("ip:x", 3, 60, "shield"));
  }
  EXPECT_FALSE(l->peek_now({check("ip:x", 3, 60, "shield")})[0].admitted);
  EXPECT_TRUE(l->peek_now({check("ip:y", 3, 60, "shield")})[0].admitted);
  now += 20;
  EXPECT_TRUE(l->peek_now({check("ip:x", 3, 60, "shield")})[0].admitted);
}

TEST_F(LocalLimiterTest, EndedWindowsAreSweptAway) {
  auto l = make();
  l->admit_now({check("ip:a", 5, 10)});
  l->admit_now({check("ip:b", 5, 3600)});
  EXPECT_EQ(l->tracked_keys(), 2u);
  EXPECT_EQ(l->sweep(), 0u);
  now += 10;
  EXPECT_EQ(l->sweep(), 1u);
  EXPECT_EQ(l->tracked_keys(), 1u);
}

TEST_F(LocalLimiterTest, AtTheCapANewKeyIsRefusedUntilAWindowEnds) {
  auto l = make(2);
  EXPECT_TRUE(l->admit_now({check("ip:a", 5, 10)})[0].admitted);
  EXPECT_TRUE(l->admit_now({check("ip:b", 5, 3600)})[0].admitted);
  EXPECT_FALSE(l->admit_now({check("ip:c", 5, 10)})[0].admitted);  // fail closed
  EXPECT_EQ(l->keys_refused(), 1u);
  EXPECT_TRUE(l->admit_now({check("ip:a", 5, 10)})[0].admitted);  // known keys go on
  now += 20;  // ip:a's window has ended: a full table drops it for the new key
  EXPECT_TRUE(l->admit_now({check("ip:c", 5, 10)})[0].admitted);
  EXPECT_EQ(l->tracked_keys(), 2u);
}

TEST_F(LocalLimiterTest, LongWindowsSurviveARestartThroughTheStateFile) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("pc-rl-" + std::to_string(::getpid()) + "-" + std::to_string(now.load()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "state.db").string();
  {
    auto l = make(1000, file);
    for (int i = 0; i < 3; ++i) l->admit_now({check("client_id:a", 5, 86400)});
    l->admit_now({check("ip:a", 5, 60)});  // shorter than persist_min: not saved
  }                                        // saved when destroyed
  EXPECT_EQ(std::filesystem::status(file).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::none);
  {
    auto l = make(1000, file);
    EXPECT_EQ(l->tracked_keys(), 1u);
    EXPECT_EQ(l->peek_now({check("client_id:a", 5, 86400)})[0].remaining, 2u);
    EXPECT_EQ(l->peek_now({check("ip:a", 5, 60)})[0].remaining, 5u);
    std::string error;
    ASSERT_TRUE(l->save(error)) << error;
  }
  now += 86400;  // the day has ended: nothing is read back
  {
    auto l = make(1000, file);
    EXPECT_EQ(l->tracked_keys(), 0u);
  }
  std::filesystem::remove_all(dir);
}

TEST_F(LocalLimiterTest, AnUnusableStateFileIsRefused) {
  LocalLimiter::Options o;
  o.state_file = "/nonexistent-folder/state.db";
  o.background = false;
  std::string error;
  EXPECT_FALSE(LocalLimiter::create(std::move(o), error));
  EXPECT_NE(error.find("/nonexistent-folder/state.db"), std::string::npos) << error;
}

TEST_F(LocalLimiterTest, ExactUnderConcurrency) {
  auto l = make(100000);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (l->admit_now({check("route:r", 1000, 60), check("ip:a", 100000, 60, "other")})[0]
                .admitted) {
          ++admitted;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1000);
}

// The request path asks admit_inline/peek_inline (no callback, buffers reused); admit/peek
// (the Limiter callback contract) must give the very same answers. Two limiters fed the same
// sequence, one through each door, with requests of varying shapes: one check, several
// checks with shared shards, longer and shorter keys, an exhausted limit, the key cap.
TEST_F(LocalLimiterTest, InlineAnswersAreTheCallbackAnswers) {
  auto inl = make(6);
  auto cb = make(6);
  const std::vector<std::vector<Check>> shapes{
      {check("ip:a", 3, 60)},
      {check("ip:a", 3, 60), check("route:r", 5, 3600, "whole"), check("ip:a", 2, 60, "n")},
      {check("ip:2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", 2, 60)},
      {check("ip:b", 1, 60)},
      {check("ip:c", 4, 60), check("ip:d", 4, 60)},  // at the cap of 6 keys: refused
  };
  std::vector<Outcome> out;  // reused across calls, as the session does
  for (int round = 0; round < 4; ++round) {
    for (std::size_t i = 0; i < shapes.size(); ++i) {
      const auto& checks = shapes[i];
      ASSERT_TRUE(inl->admit_inline(checks, out));
      std::optional<std::vector<Outcome>> got;
      cb->admit(checks, [&](std::vector<Outcome> o) { got = std::move(o); });
      ASSERT_TRUE(got.has_value()) << "answered inline";
      ASSERT_EQ(out.size(), checks.size());
      ASSERT_EQ(got->size(), checks.size());
      for (std::size_t k = 0; k < checks.size(); ++k) {
        EXPECT_EQ(out[k].admitted, (*got)[k].admitted) << round << "/" << i << "/" << k;
        EXPECT_EQ(out[k].remaining, (*got)[k].remaining) << round << "/" << i << "/" << k;
        EXPECT_EQ(out[k].reset_s, (*got)[k].reset_s) << round << "/" << i << "/" << k;
      }
      ASSERT_TRUE(inl->peek_inline(checks, out));
      got.reset();
      cb->peek(checks, [&](std::vector<Outcome> o) { got = std::move(o); });
      ASSERT_TRUE(got.has_value());
      for (std::size_t k = 0; k < checks.size(); ++k) {
        EXPECT_EQ(out[k].admitted, (*got)[k].admitted) << "peek " << round << "/" << i;
        EXPECT_EQ(out[k].remaining, (*got)[k].remaining) << "peek " << round << "/" << i;
      }
    }
  }
  EXPECT_EQ(inl->tracked_keys(), cb->tracked_keys());
  EXPECT_EQ(inl->keys_refused(), cb->keys_refused());
  EXPECT_GT(inl->keys_refused(), 0u);
  // ip:a's 3 per minute were spent in the second round (the second shape was admitted once).
  EXPECT_FALSE(inl->peek_now({check("ip:a", 3, 60)})[0].admitted);
  EXPECT_EQ(inl->peek_now({check("route:r", 5, 3600, "whole")})[0].remaining, 4u);
}

// A key whose bytes differ only past the first eight, or only in its last byte, is its own
// counter (the table hashes keys eight bytes at a time).
TEST_F(LocalLimiterTest, KeysDifferingInAnyByteCountApart) {
  auto l = make();
  std::vector<Outcome> out;
  for (const char* k : {"ip:10.0.0.1", "ip:10.0.0.2", "ip:10.0.1.1", "ip:10.0.0.10", "ip:10.0.0",
                        "ip:10.0.0.1 ", "ip:1"}) {
    ASSERT_TRUE(l->admit_inline(std::vector<Check>{check(k, 1, 60)}, out));
    EXPECT_TRUE(out[0].admitted) << k;
  }
  ASSERT_TRUE(l->admit_inline(std::vector<Check>{check("ip:10.0.0.1", 1, 60)}, out));
  EXPECT_FALSE(out[0].admitted);
  EXPECT_EQ(l->tracked_keys(), 7u);
}

}  // namespace
}  // namespace portcullis::ratelimit
