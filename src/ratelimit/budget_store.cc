// The grant rule, as the Redis script applies it (redis_budget_store.cc).
#include "ratelimit/budget_store.h"

#include <algorithm>

namespace portcullis::ratelimit {

std::uint64_t grant_for(std::uint64_t want, std::uint64_t at_least, std::uint64_t limit,
                        std::uint64_t taken, std::uint64_t divisor) {
  if (taken >= limit) return 0;
  const std::uint64_t left = limit - taken;
  const std::uint64_t d = std::max<std::uint64_t>(divisor, 1);
  const std::uint64_t share = std::max(at_least, (left + d - 1) / d);
  return std::min({want, share, left});
}

}  // namespace portcullis::ratelimit
