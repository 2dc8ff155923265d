// AnswerWait (server/answer_wait.h): an answer given synchronously is taken on the spot; one
// given later, from another thread, before or after the waiter armed itself, resumes the
// waiter exactly once on its own executor, with the answer there.
#include "server/answer_wait.h"

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <thread>

namespace portcullis::server {
namespace {

namespace asio = boost::asio;

TEST(AnswerWait, ASynchronousAnswerIsReadyAtOnce) {
  AnswerWait<std::string> wait;
  wait.reset();
  wait.callback()("now");
  EXPECT_TRUE(wait.ready_now());
  EXPECT_EQ(wait.result(), "now");
}

TEST(AnswerWait, NoAnswerYetIsNotReady) {
  AnswerWait<std::string> wait;
  wait.reset();
  EXPECT_FALSE(wait.ready_now());
}

// The answer arrives between ready_now() and async_wait(): async_wait resumes by itself.
TEST(AnswerWait, AnAnswerBeforeTheWaitResumesOnce) {
  asio::io_context ioc;
  AnswerWait<std::string> wait;
  wait.reset();
  ASSERT_FALSE(wait.ready_now());
  std::thread answerer([cb = wait.callback()]() mutable { cb("later"); });
  answerer.join();
  int resumed = 0;
  wait.async_wait(ioc.get_executor(), [&] { ++resumed; });
  EXPECT_EQ(resumed, 0) << "resumed through the executor, not inline";
  ioc.run();
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(wait.result(), "later");
}

// The waiter is armed first, then another thread answers: the answerer resumes it.
TEST(AnswerWait, AnAnswerAfterTheWaitResumesOnce) {
  asio::io_context ioc;
  auto guard = asio::make_work_guard(ioc);
  AnswerWait<std::string> wait;
  wait.reset();
  ASSERT_FALSE(wait.ready_now());
  int resumed = 0;
  std::string seen;
  wait.async_wait(ioc.get_executor(), [&] {
    ++resumed;
    seen = wait.result();
    guard.reset();
  });
  std::thread answerer([cb = wait.callback()]() mutable { cb("from afar"); });
  ioc.run();
  answerer.join();
  EXPECT_EQ(resumed, 1);
  EXPECT_EQ(seen, "from afar");
}

// Many rounds with the answer racing the wait: every round resumes exactly once and sees its
// own answer (run under the sanitizers in CI).
TEST(AnswerWait, RacingAnswersResumeEachRoundOnce) {
  asio::io_context ioc;
  AnswerWait<int> wait;
  for (int round = 0; round < 2000; ++round) {
    wait.reset();
    std::thread answerer([cb = wait.callback(), round]() mutable { cb(int{round}); });
    if (!wait.ready_now()) {
      int resumed = 0;
      wait.async_wait(ioc.get_executor(), [&] { ++resumed; });
      answerer.join();
      ioc.restart();
      ioc.run();
      ASSERT_EQ(resumed, 1) << "round " << round;
    } else {
      answerer.join();
    }
    ASSERT_EQ(wait.result(), round);
  }
}

}  // namespace
}  // namespace portcullis::server
