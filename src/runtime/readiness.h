// What /readyz answers: whether the gateway should be sent traffic, and each dependency that
// is not ready with a short fixed reason. A dependency marked `gates_readiness: false` is
// listed but does not make the answer 503, so one identity provider that only some routes
// use need not take the whole gateway out of a load balancer.
#pragma once

#include <string>
#include <vector>

namespace portcullis::runtime {

struct NotReady {
  std::string dependency;  // where it is configured: "jwt_providers.main", "api_keys", ...
  std::string reason;      // a fixed phrase ("no keys yet"): never a URL, secret or request data
  bool gating = true;      // false: listed only (gates_readiness: false)
};

struct Readiness {
  std::vector<NotReady> not_ready;

  // True when no gating dependency is down.
  bool ready() const;
  // {"ready":true}, or with the dependencies that are down:
  // {"ready":false,"not_ready":[{"dependency":"jwt_providers.main","reason":"no keys yet",
  // "gating":true}]}
  std::string json() const;

  // From SIGTERM on (lame duck and drain): 503 whatever the dependencies say.
  static Readiness draining();
};

}  // namespace portcullis::runtime
