// A BudgetStore in memory for the shared limiter's tests: the grant rule of budget_store.h,
// answers inline (or held until released), and failures on demand.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "ratelimit/budget_store.h"
#include "ratelimit/limiter.h"

namespace portcullis::ratelimit::testing {

class FakeStore final : public BudgetStore {
 public:
  void reserve(const Reservation& r, std::chrono::milliseconds timeout, StoreDone done) override {
    std::unique_lock lock(mu);
    ++reserves;
    last_timeout = timeout;
    last_reservation = r;
    auto answer = [this, r, done = std::move(done)] {
      StoreAnswer a;
      if (failing) return done(a);
      std::uint64_t& taken = counters[r.counter];
      a.granted = grant_for(r.want, r.at_least, r.limit, taken, r.divisor);
      taken += a.granted;
      a.taken = taken;
      a.ok = true;
      done(a);
    };
    if (hold) {
      held.push_back(std::move(answer));
      return;
    }
    lock.unlock();
    answer();
  }
  void add(const std::string& counter, std::uint64_t n, std::int64_t, std::chrono::milliseconds,
           StoreDone done) override {
    StoreAnswer a;
    {
      std::lock_guard lock(mu);
      ++adds;
      if (!failing) {
        a.taken = counters[counter] += n;
        a.ok = true;
      }
    }
    done(a);
  }
  void read(const std::string& counter, std::chrono::milliseconds, StoreDone done) override {
    StoreAnswer a;
    {
      std::lock_guard lock(mu);
      ++reads;
      if (!failing) {
        a.taken = counters[counter];
        a.ok = true;
      }
    }
    done(a);
  }
  bool up() const override { return !failing; }

  // Answers the held reservations, in order (outside the lock: they call back).
  void release() {
    std::deque<std::function<void()>> run;
    {
      std::lock_guard lock(mu);
      run.swap(held);
    }
    for (auto& f : run) f();
  }

  std::mutex mu;
  std::map<std::string, std::uint64_t> counters;
  bool failing = false;
  bool hold = false;
  std::deque<std::function<void()>> held;
  int reserves = 0, adds = 0, reads = 0;
  std::chrono::milliseconds last_timeout{0};
  Reservation last_reservation;
};

// A fallback that counts what reaches it and admits everything.
class CountingLimiter final : public Limiter {
 public:
  void admit(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) override {
    ++admits;
    done(std::vector<Outcome>(checks.size(), Outcome{true, 7, 1}));
  }
  void peek(std::vector<Check> checks, std::function<void(std::vector<Outcome>)> done) override {
    ++peeks;
    done(std::vector<Outcome>(checks.size(), Outcome{true, 7, 1}));
  }
  void record(Check) override { ++records; }
  int admits = 0, peeks = 0, records = 0;
};

}  // namespace portcullis::ratelimit::testing
