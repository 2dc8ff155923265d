#include "policy/route_policy.h"

#include <algorithm>

namespace portcullis::policy {

RoutePolicy::RoutePolicy(const config::RouteConfig& route)
    : require_scopes_(route.require_scopes),
      require_any_scope_(route.require_any_scope),
      require_roles_(route.require_roles),
      allow_clients_(route.allow_clients) {}

Decision RoutePolicy::check(const identity::Identity& id) const {
  if (!allow_clients_.empty() &&
      std::find(allow_clients_.begin(), allow_clients_.end(), id.client_id) ==
          allow_clients_.end()) {
    return {auth::Status::ClientNotAllowed, {}};
  }
  for (const auto& s : require_scopes_) {
    if (!id.has_scope(s)) return {auth::Status::InsufficientScope, identity::join(require_scopes_)};
  }
  if (!require_any_scope_.empty() &&
      std::none_of(require_any_scope_.begin(), require_any_scope_.end(),
                   [&](const std::string& s) { return id.has_scope(s); })) {
    return {auth::Status::InsufficientScope, identity::join(require_any_scope_)};
  }
  for (const auto& r : require_roles_) {
    if (!id.has_role(r)) return {auth::Status::MissingRole, {}};
  }
  return {};
}

}  // namespace portcullis::policy
