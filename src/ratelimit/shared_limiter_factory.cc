// rate_limit_store -> Redis client options and the limiter's.
#include "ratelimit/shared_limiter_factory.h"

#include <algorithm>

#include "ratelimit/redis_budget_store.h"
#include "ratelimit/shared_limiter.h"

namespace portcullis::ratelimit {

std::shared_ptr<Limiter> make_shared_limiter(const config::RateLimitStoreConfig& store,
                                             std::shared_ptr<Limiter> local) {
  redis::ClientOptions o;
  o.host = store.host;
  o.port = store.port;
  o.db = store.db;
  o.username = store.username;
  o.password = store.password;
  const std::chrono::milliseconds timeout(store.timeout_ms);
  // A connection is declared dead after a second without any answer (or 4 timeouts, if
  // longer): a slow Redis keeps its connection, a hung one is replaced.
  o.dead_after = std::max(std::chrono::milliseconds(1000), 4 * timeout);
  o.connect_timeout = std::max(std::chrono::milliseconds(1000), timeout);
  SharedLimiterOptions l;
  l.timeout = timeout;
  switch (store.on_error) {
    case config::StoreErrorMode::Local:
      l.on_error = OnStoreError::Local;
      break;
    case config::StoreErrorMode::Allow:
      l.on_error = OnStoreError::Allow;
      break;
    case config::StoreErrorMode::Deny:
      l.on_error = OnStoreError::Deny;
      break;
  }
  return std::make_shared<SharedLimiter>(std::make_shared<RedisBudgetStore>(std::move(o)),
                                         std::move(local), l);
}

}  // namespace portcullis::ratelimit
