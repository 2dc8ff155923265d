// Fakes for the JWKS cache: a fetcher whose fetches the test answers by hand, a scheduler
// whose timers the test fires, and a clock the test moves.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "auth/jwt/jwks_cache.h"

namespace portcullis::auth::jwt::testing {

struct FakeClock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  SteadyNow fn() {
    return [this] { return now; };
  }
  void advance(std::chrono::seconds s) { now += s; }
};

struct FetchLog {
  std::mutex mu;
  std::vector<std::function<void(FetchResult)>> pending;
  int started = 0;
};

class FakeFetcher : public JwksFetcher {
 public:
  explicit FakeFetcher(std::shared_ptr<FetchLog> log) : log_(std::move(log)) {}
  void fetch(std::function<void(FetchResult)> done) override {
    std::lock_guard lock(log_->mu);
    ++log_->started;
    log_->pending.push_back(std::move(done));
  }

 private:
  std::shared_ptr<FetchLog> log_;
};

class FakeScheduler : public Scheduler {
 public:
  struct Timer {
    std::chrono::milliseconds delay;
    std::function<void()> fn;
  };
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    std::lock_guard lock(mu);
    timers.push_back({delay, std::move(fn)});
  }
  // Runs the zero-delay timers (fetch starts) until none is left.
  void run_immediate() {
    for (;;) {
      std::function<void()> fn;
      {
        std::lock_guard lock(mu);
        auto it = std::find_if(timers.begin(), timers.end(),
                               [](const Timer& t) { return t.delay.count() == 0; });
        if (it == timers.end()) return;
        fn = std::move(it->fn);
        timers.erase(it);
      }
      fn();
    }
  }
  // The delays of the pending non-zero timers.
  std::vector<std::chrono::milliseconds> delays() {
    std::lock_guard lock(mu);
    std::vector<std::chrono::milliseconds> out;
    for (const auto& t : timers) {
      if (t.delay.count() > 0) out.push_back(t.delay);
    }
    return out;
  }
  // Fires every pending non-zero timer (the test has moved the clock as it wants).
  void fire_delayed() {
    std::vector<Timer> fire;
    {
      std::lock_guard lock(mu);
      for (auto it = timers.begin(); it != timers.end();) {
        if (it->delay.count() > 0) {
          fire.push_back(std::move(*it));
          it = timers.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& t : fire) t.fn();
  }
  std::mutex mu;
  std::vector<Timer> timers;
};

}  // namespace portcullis::auth::jwt::testing
