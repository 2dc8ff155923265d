// The budget store on Redis: each reservation is one atomic Lua script (EVALSHA, EVAL when
// Redis answers NOSCRIPT, e.g. after a restart) that grants by the rule in budget_store.h,
// adds the grant to the window's counter and lets the counter expire after the window.
#pragma once

#include <memory>

#include "ratelimit/budget_store.h"
#include "redis/client.h"

namespace portcullis::ratelimit {

class RedisBudgetStore final : public BudgetStore {
 public:
  explicit RedisBudgetStore(redis::ClientOptions options);
  ~RedisBudgetStore() override;

  void reserve(const Reservation& r, std::chrono::milliseconds timeout, StoreDone done) override;
  void add(const std::string& counter, std::uint64_t n, std::int64_t expire_at_ms,
           std::chrono::milliseconds timeout, StoreDone done) override;
  void read(const std::string& counter, std::chrono::milliseconds timeout, StoreDone done) override;
  bool up() const override;

  // The scripts' text (tests compare the script's grants with grant_for).
  static const std::string& reserve_script();

 private:
  void eval(const std::string& script, const std::string& sha, std::vector<std::string> keys_args,
            std::chrono::milliseconds timeout, std::function<void(redis::CallResult)> done);

  std::shared_ptr<redis::Client> client_;
};

}  // namespace portcullis::ratelimit
