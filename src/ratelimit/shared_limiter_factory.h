// The shared limiter as the config's `rate_limit_store` describes it: a Redis client, the
// budget store on it and the SharedLimiter, with `local` (the in-process limiter) for
// on_error: local.
#pragma once

#include <memory>

#include "config/rate_limit_store_config.h"
#include "ratelimit/limiter.h"

namespace portcullis::ratelimit {

std::shared_ptr<Limiter> make_shared_limiter(const config::RateLimitStoreConfig& store,
                                             std::shared_ptr<Limiter> local);

}  // namespace portcullis::ratelimit
