// What runtime.cc needs from the jwt mechanism, in three calls: the providers the routes use
// (started, or kept from the runtime being replaced), the headers claims_to_headers writes (so
// the sanitizer strips them inbound), and one authenticator per route covering its providers.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "auth/authenticator.h"
#include "auth/jwt/provider.h"
#include "config/config.h"

namespace portcullis::auth::jwt {

using ProviderMap = std::map<std::string, std::shared_ptr<Provider>>;

// Every provider named by some route, into `out`: the one in `running` (the providers of the
// runtime being replaced) when its settings are unchanged, else a new one. False with `error`
// set when one cannot be built.
bool open_route_providers(const config::Config& config, const ProviderMap& running,
                          ProviderMap& out, std::string& error);

// Header names filled from claims (claims_to_headers), for the sanitizer's strip list.
std::vector<std::string> claim_header_names(const config::Config& config);

// The route's jwt mechanism, covering all its jwt:NAME methods (the token's iss picks one);
// null when the route has none. Put it where the route's first jwt: method is.
// `sole_bearer`: see JwtAuthenticator.
std::shared_ptr<Authenticator> route_authenticator(const config::RouteConfig& route,
                                                   const ProviderMap& providers, bool sole_bearer);

}  // namespace portcullis::auth::jwt
