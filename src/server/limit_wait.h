// LimitWait: where the rate limiter's answer meets the session, as AuthWait does for the
// auth chain. The local store answers inline (taken on the spot, no suspension); a shared
// store may answer later on any thread, which resumes the coroutine on the session's own
// executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "ratelimit/limiter.h"

namespace portcullis::server {

class LimitWait {
 public:
  using Outcomes = std::vector<ratelimit::Outcome>;

  // The callback given to the limiter (captures one pointer).
  std::function<void(Outcomes)> callback() {
    return [this](Outcomes r) { deliver(std::move(r)); };
  }
  // Before asking: nothing can be pending (the previous question was answered).
  void reset() {
    result_.reset();
    waiting_ = false;
  }
  // After asking: true when the answer came synchronously.
  bool ready_now() {
    std::lock_guard lock(mu_);
    if (!result_) waiting_ = true;
    return result_.has_value();
  }
  Outcomes& result() { return *result_; }

  template <class Token>
  auto async_wait(boost::asio::any_io_executor ex, Token&& token) {
    return boost::asio::async_initiate<Token, void()>(
        [this, ex](auto handler) {
          auto h = std::make_shared<std::decay_t<decltype(handler)>>(std::move(handler));
          std::function<void()> resume = [h, ex] {
            boost::asio::post(ex, [h]() mutable { (*h)(); });
          };
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
  void deliver(Outcomes r) {
    std::function<void()> resume;
    {
      std::lock_guard lock(mu_);
      result_.emplace(std::move(r));
      if (waiting_) resume = std::move(resume_);
      resume_ = nullptr;
    }
    if (resume) resume();
  }

  std::mutex mu_;
  std::optional<Outcomes> result_;
  bool waiting_ = false;
  std::function<void()> resume_;
};

}  // namespace portcullis::server
