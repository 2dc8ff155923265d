// AuthWait: where a mechanism's answer meets the session. Most answers are synchronous (an
// API key lookup, a cached token): they are taken on the spot and the coroutine never
// suspends. An asynchronous answer (a JWKS fetch, an introspection call) may arrive on any
// thread; it resumes the coroutine on the session's own executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "auth/authenticator.h"

namespace portcullis::server {

class AuthWait {
 public:
  using Handler = std::function<void()>;

  // The callback given to the chain. Captures one pointer, so std::function stores it
  // without allocating.
  auth::AuthCallback callback() {
    return [this](auth::AuthResult&& r) { deliver(std::move(r)); };
  }

  // Before chain.run(): nothing can be pending (a mechanism answers exactly once, and the
  // previous request waited for its answer), so no lock is needed.
  void reset() {
    result_.reset();
    waiting_ = false;
  }
  // After chain.run() returned: true when the answer came synchronously (then result()).
  bool ready_now() {
    std::lock_guard lock(mu_);
    if (!result_) waiting_ = true;
    return result_.has_value();
  }
  // The answer, once ready_now() or async_wait() said it is there. Stays valid until reset().
  auth::AuthResult& result() { return *result_; }

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
  void deliver(auth::AuthResult&& r) {
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
  std::optional<auth::AuthResult> result_;
  bool waiting_ = false;
  Handler resume_;
};

}  // namespace portcullis::server
