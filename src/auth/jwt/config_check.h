// What the config loader cannot judge about a jwt provider, because it needs this
// mechanism's knowledge: algorithm names, key material (a PEM key, a JWK set) and that the
// two fit (HS only with a secret long enough for it, the key type matching the algorithm).
// Reported at the marks the config kept, so `portcullis check` still prints FILE:LINE:COL.
// Called where a config is accepted: `check`/`run` (main.cc) and build_runtime (reloads).
#pragma once

#include <string>

#include "config/config.h"
#include "config/diagnostics.h"

namespace portcullis::auth::jwt {

void check_provider_config(const config::JwtProviderConfig& p, config::Diagnostics& out);

// Every provider of the config, used by a route or not.
void check_provider_configs(const config::Config& config, config::Diagnostics& out);

// Same, for build_runtime: false with `error` set to the first problem ("line L, column C:
// message") when there is one.
bool provider_configs_usable(const config::Config& config, std::string& error);

}  // namespace portcullis::auth::jwt
