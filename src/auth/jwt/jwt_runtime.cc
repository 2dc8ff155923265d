#include "auth/jwt/jwt_runtime.h"

#include "auth/jwt/jwt_authenticator.h"

namespace portcullis::auth::jwt {

bool open_route_providers(const config::Config& config, const ProviderMap& running,
                          ProviderMap& out, std::string& error) {
  for (const auto& route : config.routes) {
    for (const auto& method : route.auth) {
      if (method.kind != config::AuthKind::Jwt || out.count(method.provider)) continue;
      const std::string& name = method.provider;
      auto it = config.jwt_providers.find(name);
      if (it == config.jwt_providers.end()) {
        error = "jwt provider '" + name + "' is not configured";
        return false;
      }
      auto was = running.find(name);
      auto provider =
          open_provider(it->second, was == running.end() ? nullptr : was->second, error);
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
                                                   const ProviderMap& providers, bool sole_bearer) {
  std::vector<std::shared_ptr<Provider>> mine;
  for (const auto& method : route.auth) {
    if (method.kind != config::AuthKind::Jwt) continue;
    auto it = providers.find(method.provider);
    if (it != providers.end()) mine.push_back(it->second);
  }
  if (mine.empty()) return nullptr;
  return std::make_shared<JwtAuthenticator>(std::move(mine), route.jwt_query_param, sole_bearer);
}

}  // namespace portcullis::auth::jwt
