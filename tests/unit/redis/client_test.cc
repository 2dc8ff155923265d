// The Redis client against a real redis-server: calls, AUTH and SELECT, timeouts, Redis down
// and back, and the budget store's script against the grant rule.
#include "redis/client.h"

#include <gtest/gtest.h>

#include <future>

#include "ratelimit/redis_budget_store.h"
#include "redis_server.h"

namespace portcullis::redis {
namespace {

using namespace std::chrono_literals;
using testing::RedisServer;

ClientOptions options_for(const RedisServer& s) {
  ClientOptions o;
  o.port = s.port();
  o.backoff_min = 20ms;
  o.backoff_max = 100ms;
  return o;
}

CallResult call(Client& c, std::vector<std::string> args,
                std::chrono::milliseconds timeout = 1000ms) {
  std::promise<CallResult> p;
  c.call(std::move(args), timeout, [&p](CallResult r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

// Calls until one answers (the connection is made in the background).
CallResult call_when_up(Client& c, std::vector<std::string> args) {
  CallResult r;
  for (int i = 0; i < 300; ++i) {
    r = call(c, args);
    if (r.ok()) return r;
    std::this_thread::sleep_for(10ms);
  }
  return r;
}

TEST(RedisClient, CallsArePipelinedAndAnsweredInOrder) {
  RedisServer server;
  server.start();
  Client c(options_for(server));
  ASSERT_TRUE(call_when_up(c, {"PING"}).ok());
  std::vector<std::promise<CallResult>> ps(100);
  for (int i = 0; i < 100; ++i) {
    c.call({"INCR", "n"}, 1000ms, [&ps, i](CallResult r) { ps[i].set_value(std::move(r)); });
  }
  for (int i = 0; i < 100; ++i) {
    auto r = ps[i].get_future().get();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.reply.integer, i + 1);
  }
  auto err = call(c, {"NOSUCHCOMMAND"});
  ASSERT_TRUE(err.ok());
  EXPECT_TRUE(err.reply.is_error());
}

TEST(RedisClient, AuthAndSelect) {
  RedisServer server("s3cret-pass");
  server.start();
  ClientOptions o = options_for(server);
  o.password = config::Secret("s3cret-pass");
  o.db = 3;
  Client c(o);
  ASSERT_TRUE(call_when_up(c, {"SET", "k", "v"}).ok());
  ClientOptions o0 = options_for(server);
  o0.password = config::Secret("s3cret-pass");
  Client c0(o0);
  // db 0 does not see what db 3 holds.
  auto r = call_when_up(c0, {"GET", "k"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.reply.type, Reply::Type::Nil);

  ClientOptions wrong = options_for(server);
  wrong.password = config::Secret("wrong");
  Client bad(wrong);
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(bad.connected());
  EXPECT_EQ(call(bad, {"PING"}).error, CallError::Unavailable);
  // Without a password Redis refuses the PING that ends the handshake: never connected.
  Client noauth(options_for(server));
  std::this_thread::sleep_for(200ms);
  EXPECT_FALSE(noauth.connected());
  EXPECT_EQ(call(noauth, {"GET", "k"}).error, CallError::Unavailable);
}

TEST(RedisClient, DownAnswersAtOnceAndComingBackIsPickedUp) {
  RedisServer server;
  ClientOptions o = options_for(server);
  Client c(o);
  std::this_thread::sleep_for(100ms);
  auto t0 = std::chrono::steady_clock::now();
  auto r = call(c, {"PING"}, 50ms);
  EXPECT_EQ(r.error, CallError::Unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 50ms);
  server.start();
  EXPECT_TRUE(call_when_up(c, {"PING"}).ok());
  server.kill();
  auto after = call(c, {"PING"}, 200ms);
  EXPECT_FALSE(after.ok());
  server.start();
  EXPECT_TRUE(call_when_up(c, {"PING"}).ok());
}

TEST(RedisClient, AHungRedisTimesOutWithinTheTimeoutAndIsReplaced) {
  RedisServer server;
  server.start();
  ClientOptions o = options_for(server);
  o.dead_after = 300ms;
  Client c(o);
  ASSERT_TRUE(call_when_up(c, {"PING"}).ok());
  server.pause();
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto r = call(c, {"PING"}, 50ms);
    auto waited = std::chrono::steady_clock::now() - t0;
    EXPECT_FALSE(r.ok());
    EXPECT_LT(waited, 50ms + 20ms);
  }
  std::this_thread::sleep_for(400ms);
  EXPECT_FALSE(c.connected());  // declared dead after 300 ms without an answer
  server.resume();
  EXPECT_TRUE(call_when_up(c, {"PING"}).ok());
}

TEST(RedisBudgetStore, TheScriptGrantsByTheRuleAndSurvivesAScriptFlush) {
  RedisServer server;
  server.start();
  ratelimit::RedisBudgetStore store(options_for(server));
  Client admin(options_for(server));
  ASSERT_TRUE(call_when_up(admin, {"PING"}).ok());
  auto reserve = [&](ratelimit::Reservation r) {
    std::promise<ratelimit::StoreAnswer> p;
    store.reserve(r, 1000ms, [&p](ratelimit::StoreAnswer a) { p.set_value(a); });
    return p.get_future().get();
  };
  const std::int64_t expire = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count() +
                              60000;
  std::uint64_t taken = 0;
  for (int i = 0; i < 80; ++i) {
    ratelimit::Reservation r{"c1", 62, static_cast<std::uint64_t>(1 + i % 3), 1000, 8, expire};
    if (i == 40) {  // NOSCRIPT: EVAL again
      ASSERT_TRUE(call(admin, {"SCRIPT", "FLUSH"}).ok());
    }
    auto a = reserve(r);
    ASSERT_TRUE(a.ok);
    EXPECT_EQ(a.granted, ratelimit::grant_for(r.want, r.at_least, r.limit, taken, r.divisor));
    taken += a.granted;
    EXPECT_EQ(a.taken, taken);
  }
  EXPECT_EQ(taken, 1000u);
  auto ttl = call(admin, {"PTTL", "c1"});
  EXPECT_GT(ttl.reply.integer, 50000);
  EXPECT_LE(ttl.reply.integer, 60000);
  server.kill();
  auto down = reserve({"c1", 62, 1, 1000, 8, expire});
  EXPECT_FALSE(down.ok);
}

}  // namespace
}  // namespace portcullis::redis
