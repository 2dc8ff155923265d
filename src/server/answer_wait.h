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
#include <functional>
#include <memory>
#include <mutex>
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
  // previous request waited for its answer), so no lock is needed.
  void reset() {
    result_.reset();
    waiting_ = false;
  }
  // After asking: true when the answer came synchronously (then result()).
  bool ready_now() {
    std::lock_guard lock(mu_);
    if (!result_) waiting_ = true;
    return result_.has_value();
  }
  // The answer, once ready_now() or async_wait() said it is there. Stays valid until reset().
  Result& result() { return *result_; }

  template <class Token>
  auto async_wait(boost::asio::any_io_executor ex, Token&& token) {
    return boost::asio::async_initiate<Token, void()>(
        [this, ex](auto handler) {
          auto h = std::make_shared<std::decay_t<decltype(handler)>>(std::move(handler));
          Handler resume = [h, ex] { boost::asio::post(ex, [h]() mutable { (*h)(); }); };
          std::unique_lock lock(mu_);
          if (result_) {
            lock.unlock();
            resume();
          } else {
            resume_ = std::move(resume);
          }
        },
        token);
  }

 private:
  void deliver(Result&& r) {
    Handler resume;
    {
      std::lock_guard lock(mu_);
      result_.emplace(std::move(r));
      if (waiting_) resume = std::move(resume_);
      resume_ = nullptr;
    }
    if (resume) resume();
  }

  std::mutex mu_;
  std::optional<Result> result_;
  bool waiting_ = false;
  Handler resume_;
};

}  // namespace portcullis::server
