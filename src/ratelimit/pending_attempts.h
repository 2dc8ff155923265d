// Attempts the failed-auth shield counts before they have failed. An authentication that waits
// on the network (an introspection call, a JWKS fetch) holds one on its shield keys until it
// answers; the shield then admits a request only while the failures recorded plus the
// attempts still waiting stay under its budget. Without it, a burst of concurrent attempts
// from one address all passed the shield's check before the first of them was recorded as a
// failure (found by an acceptance check: 101 tokens checked against a shield of 10).
// Process-wide; another gateway's attempts on a shared store count once they fail, as before.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ratelimit/limiter.h"

namespace portcullis::ratelimit {

class PendingAttempts {
 public:
  static PendingAttempts& global() {
    static PendingAttempts instance;
    return instance;
  }

  // How many attempts wait on `check`'s limit and key now (no lock while none waits).
  std::uint64_t waiting(const Check& check) const {
    if (total_.load(std::memory_order_acquire) == 0) return 0;
    std::lock_guard lock(mu_);
    const auto it = counts_.find(key_of(check));
    return it == counts_.end() ? 0 : it->second;
  }

  // One attempt on each of the checks' keys, held until destroyed.
  class Hold {
   public:
    Hold() = default;
    Hold(PendingAttempts& owner, const std::vector<Check>& checks) : owner_(&owner) {
      for (const auto& c : checks) keys_.push_back(key_of(c));
      owner_->add(keys_);
    }
    Hold(Hold&& o) noexcept : owner_(std::exchange(o.owner_, nullptr)), keys_(std::move(o.keys_)) {}
    Hold& operator=(Hold&&) = delete;
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() {
      if (owner_ != nullptr) owner_->remove(keys_);
    }

   private:
    PendingAttempts* owner_ = nullptr;
    std::vector<std::string> keys_;
  };

 private:
  static std::string key_of(const Check& c) { return c.limit + '\n' + c.key; }
  void add(const std::vector<std::string>& keys) {
    std::lock_guard lock(mu_);
    for (const auto& k : keys) ++counts_[k];
    total_.fetch_add(keys.size(), std::memory_order_release);
  }
  void remove(const std::vector<std::string>& keys) {
    std::lock_guard lock(mu_);
    for (const auto& k : keys) {
      auto it = counts_.find(k);
      if (it != counts_.end() && --it->second == 0) counts_.erase(it);
    }
    total_.fetch_sub(keys.size(), std::memory_order_release);
  }

  std::atomic<std::size_t> total_{0};
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::uint64_t> counts_;
};

}  // namespace portcullis::ratelimit
