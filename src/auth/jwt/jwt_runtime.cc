#include "auth/jwt/jwt_runtime.h"

#include <algorithm>

#include "auth/jwt/jwt_authenticator.h"

namespace portcullis::auth::jwt {

bool open_route_providers(const config::Config& config, ProviderMap& out, std::string& error) {
  for (const auto& route : config.routes) {
    for (const auto& method : route.auth) {
      if (!method.starts_with("jwt:")) continue;
      std::string name = method.substr(4);
      if (out.count(name)) continue;
      auto it = config.jwt_providers.find(name);
      if (it == config.jwt_providers.end()) {
        error = "jwt provider '" + name + "' is not configured";
        return false;
      }
      auto provider = open_provider(it->second, error);
      if (!provider) {
        error = "jwt provider '" + name + "': " + error;
        return false;
      }
      out.emplace(name, std::move(provider));
    }
  }
  return true;
}

std::vector<std::string> claim_header_names(const config::Config& config) {
  std::vector<std::string> names;
  for (const auto& [name, p] : config.jwt_providers) {
    for (const auto& [claim, header] : p.claims_to_headers) names.push_back(header);
  }
  return names;
}

std::shared_ptr<Authenticator> route_authenticator(const config::RouteConfig& route,
                                                   const ProviderMap& providers) {
  std::vector<std::shared_ptr<Provider>> mine;
  bool oauth2 = false;
  for (const auto& method : route.auth) {
    oauth2 |= method.starts_with("oauth2:");
    if (!method.starts_with("jwt:")) continue;
    auto it = providers.find(method.substr(4));
    if (it != providers.end()) mine.push_back(it->second);
  }
  if (mine.empty()) return nullptr;
  // With an oauth2 mechanism on the route, a JWT from an issuer no jwt provider knows is
  // left to it (it may introspect JWT-shaped tokens).
  return std::make_shared<JwtAuthenticator>(std::move(mine), route.jwt_query_param, !oauth2);
}

}  // namespace portcullis::auth::jwt
