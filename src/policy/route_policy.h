// RoutePolicy: the route's access rule (scopes, roles, clients), checked after a
// successful authentication.
#pragma once

#include <string>
#include <vector>

#include "auth/status.h"
#include "config/config.h"
#include "identity/identity.h"

namespace portcullis::policy {

struct Decision {
  auth::Status status = auth::Status::Ok;
  std::string scope;  // for InsufficientScope: the scope(s) the route needs, space-separated
};

class RoutePolicy {
 public:
  RoutePolicy() = default;
  explicit RoutePolicy(const config::RouteConfig& route);

  // Ok, InsufficientScope, MissingRole or ClientNotAllowed.
  Decision check(const identity::Identity& id) const;

 private:
  std::vector<std::string> require_scopes_;
  std::vector<std::string> require_any_scope_;
  std::vector<std::string> require_roles_;
  std::vector<std::string> allow_clients_;
};

}  // namespace portcullis::policy
