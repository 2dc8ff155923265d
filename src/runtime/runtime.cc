#include "runtime/runtime.h"

#include <algorithm>

#include "auth/api_key/api_key_authenticator.h"
#include "auth/jwt/config_check.h"
#include "auth/jwt/jwt_runtime.h"
#include "auth/oauth2/oauth2_authenticator.h"

namespace portcullis::runtime {

bool Runtime::ready() const {
  for (const auto& a : authenticators) {
    if (!a->ready()) return false;
  }
  return true;
}

std::shared_ptr<const Runtime> build_runtime(std::shared_ptr<const config::Config> config,
                                             std::string& error) {
  // What the loader leaves to the jwt mechanism (algorithm names, key material); a reload
  // gets here without passing through `check`.
  if (!auth::jwt::provider_configs_usable(*config, error)) return nullptr;
  auto rt = std::make_shared<Runtime>();
  rt->config = config;
  rt->router = proxy::Router(config->routes);
  // Headers filled from JWT claims are identity headers too: stripped inbound.
  rt->sanitizer = identity::Sanitizer(config->identity, auth::jwt::claim_header_names(*config));
  // A query parameter that can carry an API key is never written to the access log.
  std::vector<std::string> redact = config->log.redact_query_params;
  bool api_key_used = false;
  for (const auto& route : config->routes) {
    api_key_used |= std::find(route.auth.begin(), route.auth.end(), "api_key") != route.auth.end();
    for (const auto* param : {&route.api_key_query_param, &route.jwt_query_param}) {
      if (*param && std::find(redact.begin(), redact.end(), **param) == redact.end()) {
        redact.push_back(**param);
      }
    }
  }
  rt->access_log = observe::AccessLog::open(config->log.access, std::move(redact), error);
  if (!rt->access_log) return nullptr;

  // One registry per key store, shared by every route (and kept across reloads).
  std::shared_ptr<auth::api_key::KeyRegistry> keys;
  if (api_key_used && config->api_keys) {
    keys = auth::api_key::open_registry(*config->api_keys, error);
    if (!keys) {
      error = "api_keys: " + error;
      return nullptr;
    }
  }
  // JWT providers (their key sets and token caches), kept across reloads.
  auth::jwt::ProviderMap jwt_providers;
  if (!auth::jwt::open_route_providers(*config, jwt_providers, error)) return nullptr;
  for (const auto& route : config->routes) {
    RouteRuntime r;
    r.config = &route;
    r.upstream = &config->upstreams.at(route.upstream);
    // Mechanisms (api_key, jwt:NAME, oauth2:NAME) are added here as they are built; the
    // loader refuses any method this build does not have.
    std::vector<std::shared_ptr<auth::Authenticator>> mechanisms;
    bool jwt_added = false;
    for (const auto& method : route.auth) {
      if (method.starts_with("jwt:") && !jwt_added) {  // one for all the route's jwt providers
        jwt_added = true;
        mechanisms.push_back(auth::jwt::route_authenticator(route, jwt_providers));
      }
      if (method == "api_key" && keys) {
        // Per route: the query parameter that may carry the key is a route option.
        mechanisms.push_back(std::make_shared<auth::api_key::ApiKeyAuthenticator>(
            keys, config->api_keys->header, route.api_key_query_param));
      }
      if (method.starts_with("oauth2:")) {  // one provider per name, shared by its routes
        mechanisms.push_back(std::make_shared<auth::oauth2::OAuth2Authenticator>(
            auth::oauth2::open_provider(config->oauth2_providers.at(method.substr(7)))));
      }
    }
    rt->authenticators.insert(rt->authenticators.end(), mechanisms.begin(), mechanisms.end());
    r.chain = auth::AuthChain(std::move(mechanisms));
    r.policy = policy::RoutePolicy(route);
    std::string challenges;
    for (const auto& scheme : r.chain.challenges()) {
      if (!challenges.empty()) challenges += ", ";
      challenges += scheme + " realm=\"portcullis\"";
    }
    r.www_authenticate_missing = std::move(challenges);
    rt->routes.push_back(std::move(r));
  }
  return rt;
}

void RuntimeHolder::set(std::shared_ptr<const Runtime> rt) {
  std::lock_guard lock(mu_);
  current_ = std::move(rt);
  version_.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const Runtime> RuntimeHolder::get() const {
  std::lock_guard lock(mu_);
  return current_;
}

}  // namespace portcullis::runtime
