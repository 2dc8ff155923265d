// AnswerWait<Result>: where an answer given by callback meets the session's coroutine (the
// auth chain's, server/auth_wait.h; the rate limiter's, server/limit_wait.h). Most answers
// are synchronous (an API key lookup, a cached token, the local limiter): they are taken on
// the spot and the coroutine never suspends. An asynchronous answer (a JWKS fetch, an
// introspection call, a shared limiter) may arrive on any thread; it resumes the coroutine
// on the session's own executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <utility>

namespace portcullis::server {

template <class Result>
class AnswerWait {
 public:
  using Handler = std::function<void()>;

  // The callback given to whoever answers (it converts to their std::function type).
  // Captures one pointer, so std::function stores it without allocating.
  auto callback() {
    return [this](Result&& r) { deliver(std::move(r)); };
  }

  // Before asking: nothing can be pending (a question is answered exactly once, and the
  // previous request waited for its answer), so nothing else touches the state.
  void reset() {
    result_.reset();
    resume_ = nullptr;
    state_.store(kAsking, std::memory_order_relaxed);
  }
  // After asking: true when the answer came synchronously (then result()). Otherwise the
  // wait is announced, and async_wait() must follow.
  bool ready_now() {
    int expected = kAsking;
    return !state_.compare_exchange_strong(expected, kWaiting, std::memory_order_acq_rel);
  }
  // The answer, once ready_now() or async_wait() said it is there. Stays valid until reset().
  Result& result() { return *result_; }

  template <class Token>
  auto async_wait(boost::asio::any_io_executor ex, Token&& token) {
    return boost::asio::async_initiate<Token, void()>(
        [this, ex](auto handler) {
          auto h = std::make_shared<std::decay_t<decltype(handler)>>(std::move(handler));
          resume_ = [h, ex] { boost::asio::post(ex, [h]() mutable { (*h)(); }); };
          // Armed: from here on the answerer resumes us. Already answered: we do.
          int expected = kWaiting;
          if (!state_.compare_exchange_strong(expected, kArmed, std::memory_order_acq_rel)) {
            Handler resume = std::move(resume_);
            resume();
          }
        },
        token);
  }

 private:
  // kAsking -> kAnswered: a synchronous answer (ready_now() then finds it).
  // kAsking -> kWaiting -> kAnswered: answered before async_wait() stored its handler
  //   (async_wait() then resumes the coroutine itself).
  // kAsking -> kWaiting -> kArmed -> kAnswered: the answerer resumes the coroutine.
  // One atomic exchange per answer, and no lock: the result and the handler are each written
  // by one side before the exchange that hands them to the other.
  static constexpr int kAsking = 0, kWaiting = 1, kArmed = 2, kAnswered = 3;

  void deliver(Result&& r) {
    result_.emplace(std::move(r));
    if (state_.exchange(kAnswered, std::memory_order_acq_rel) == kArmed) {
      Handler resume = std::move(resume_);
      resume();
    }
  }

  std::atomic<int> state_{kAsking};
  std::optional<Result> result_;
  Handler resume_;
};

}  // namespace portcullis::server
