// Test doubles for the oauth2 mechanism: a transport that records each exchange and answers
// it when the test says so (or at once), and a clock the test moves by hand.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "auth/oauth2/transport.h"

namespace portcullis::auth::oauth2::testing {

class FakeClock {
 public:
  using Clock = std::chrono::steady_clock;
  Clock::time_point now() const { return start_ + std::chrono::milliseconds(ms_.load()); }
  void advance(std::chrono::milliseconds d) { ms_ += d.count(); }
  std::int64_t unix_now() const { return 1'800'000'000 + ms_.load() / 1000; }
  std::function<Clock::time_point()> steady() const {
    return [this] { return now(); };
  }
  std::function<std::int64_t()> unix() const {
    return [this] { return unix_now(); };
  }

 private:
  Clock::time_point start_ = Clock::time_point() + std::chrono::hours(1000);
  std::atomic<std::int64_t> ms_{0};
};

class FakeTransport : public IntrospectionTransport {
 public:
  struct Pending {
    HttpExchange exchange;
    std::function<void(HttpOutcome)> done;
  };

  // When set, every exchange is answered at once with this outcome.
  std::function<HttpOutcome(const HttpExchange&)> auto_answer;

  void send(HttpExchange exchange, std::function<void(HttpOutcome)> done) override {
    {
      std::lock_guard lock(mu_);
      sent_.push_back(exchange);
    }
    if (auto_answer) {
      done(auto_answer(exchange));
      return;
    }
    std::lock_guard lock(mu_);
    pending_.push_back({std::move(exchange), std::move(done)});
  }

  std::size_t calls() const {
    std::lock_guard lock(mu_);
    return sent_.size();
  }
  HttpExchange last() const {
    std::lock_guard lock(mu_);
    return sent_.back();
  }
  std::size_t pending() const {
    std::lock_guard lock(mu_);
    return pending_.size();
  }
  // Answers the oldest pending exchange.
  void answer(HttpOutcome outcome) {
    Pending p;
    {
      std::lock_guard lock(mu_);
      p = std::move(pending_.front());
      pending_.pop_front();
    }
    p.done(std::move(outcome));
  }

  // Forgets the exchanges never answered, without calling them. A pending callback holds
  // the provider (OAuth2Provider::introspect captures shared_from_this()) and the provider
  // holds this transport: a test that ends with an exchange pending calls this, or the
  // cycle outlives the test (LeakSanitizer reports it). The real transport always answers,
  // at the latest with a timeout, so it never keeps the cycle.
  void drop_pending() {
    std::deque<Pending> dropped;
    {
      std::lock_guard lock(mu_);
      dropped.swap(pending_);
    }
  }

  static HttpOutcome json(unsigned status, std::string body) {
    HttpOutcome o;
    o.kind = HttpOutcome::Kind::Response;
    o.status = status;
    o.body = std::move(body);
    return o;
  }
  static HttpOutcome timeout() {
    HttpOutcome o;
    o.kind = HttpOutcome::Kind::Timeout;
    return o;
  }
  static HttpOutcome refused() {
    HttpOutcome o;
    o.kind = HttpOutcome::Kind::Unreachable;
    o.detail = "connection refused";
    return o;
  }

 private:
  mutable std::mutex mu_;
  std::vector<HttpExchange> sent_;
  std::deque<Pending> pending_;
};

}  // namespace portcullis::auth::oauth2::testing
