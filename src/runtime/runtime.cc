#include "runtime/runtime.h"

#include <algorithm>
#include <atomic>
#include <optional>

#include "auth/api_key/api_key_authenticator.h"
#include "auth/api_key/key_format.h"
#include "auth/api_key/sqlite_store.h"
#include "auth/api_key/store_factory.h"
#include "auth/client_cert/client_cert_authenticator.h"
#include "auth/jwt/config_check.h"
#include "auth/jwt/jwt_runtime.h"
#include "auth/oauth2/http_transport.h"
#include "auth/oauth2/oauth2_authenticator.h"
#include "jose/token.h"
#include "observe/metrics.h"
#include "ratelimit/local_limiter.h"
#include "ratelimit/shared_limiter_factory.h"
#include "ratelimit/state_file.h"
#include "tls/client_context.h"
#include "tls/config_check.h"
#include "tls/listener_check.h"
#include "tls/server_context.h"

namespace portcullis::runtime {
namespace {

using config::AuthKind;

bool is_api_key(std::string_view s) {
  auth::api_key::ParsedKey parsed;
  return auth::api_key::parse_key(s, parsed) == auth::api_key::ParseError::None;
}

// What the access log masks wherever it appears, and what the chain removes from any query
// before forwarding (an API key): the mechanisms' formats, known offline.
constexpr auth::CredentialShapes kCredentialShapes{
    auth::api_key::kKeyPrefix, auth::api_key::kKeyLength, &is_api_key, &jose::is_compact_jws};

// Query parameters that can carry a credential are never written to the access log: the
// built-in list (observe/redaction.h), extended by log.redact_query_params and the routes'
// own credential parameters.
std::vector<std::string> redacted_params(const config::Config& config) {
  std::vector<std::string> redact = config.log.redact_query_params;
  for (const auto& route : config.routes) {
    for (const auto* param : {&route.api_key_query_param, &route.jwt_query_param}) {
      if (*param && std::find(redact.begin(), redact.end(), **param) == redact.end()) {
        redact.push_back(**param);
      }
    }
  }
  return redact;
}

// The key store is opened only when a route takes API keys.
bool uses_key_store(const config::Config& config) {
  return config.api_keys && std::any_of(config.routes.begin(), config.routes.end(),
                                        [](const auto& r) { return r.has_auth(AuthKind::ApiKey); });
}

// "line L, column C: message", the position build_runtime's errors carry (the caller names
// the file), as auth::jwt::provider_configs_usable writes it.
std::string positioned(config::Mark at, const std::string& message) {
  if (at.line == 0) return message;
  return "line " + std::to_string(at.line) + ", column " + std::to_string(at.col) + ": " + message;
}

// Opens the mechanisms' long-lived state the routes use, taking over from `previous` what
// is unchanged.
bool open_mechanisms(const config::Config& config, const Runtime* previous, Runtime& rt,
                     std::string& error) {
  // One registry per key store, shared by every route.
  if (uses_key_store(config)) {
    auth::api_key::RunningRegistry running;
    if (previous != nullptr && previous->config->api_keys) {
      running = {previous->key_registry, &*previous->config->api_keys};
    }
    rt.key_registry =
        auth::api_key::open_registry(*config.api_keys, running, previous == nullptr, error);
    if (!rt.key_registry) {
      error = positioned(config.api_keys->store_at, "api_keys: " + error);
      return false;
    }
  }
  static const auth::jwt::ProviderMap kNone;
  if (!auth::jwt::open_route_providers(config, previous ? previous->jwt_providers : kNone,
                                       rt.jwt_providers, error)) {
    return false;
  }
  // One oauth2 provider per name, shared by its routes.
  for (const auto& route : config.routes) {
    for (const auto& method : route.auth) {
      if (method.kind != AuthKind::OAuth2 || rt.oauth2_providers.count(method.provider)) continue;
      std::shared_ptr<auth::oauth2::OAuth2Provider> running;
      if (previous != nullptr) {
        auto it = previous->oauth2_providers.find(method.provider);
        if (it != previous->oauth2_providers.end()) running = it->second;
      }
      const auto& provider = config.oauth2_providers.at(method.provider);
      auto transport = auth::oauth2::make_http_transport(provider, error);
      if (!transport) {
        error = "oauth2 provider '" + method.provider + "': " + error;
        return false;
      }
      rt.oauth2_providers.emplace(
          method.provider,
          auth::oauth2::open_provider(provider, std::move(running), std::move(transport)));
    }
  }
  return true;
}

// A TLS context per https upstream; the previous runtime's when the settings are the same.
bool open_upstream_tls(const config::Config& config, const Runtime* previous, Runtime& rt,
                       std::string& error) {
  for (const auto& [name, upstream] : config.upstreams) {
    if (!upstream.https()) continue;
    if (previous != nullptr) {
      auto ctx = previous->upstream_tls.find(name);
      auto was = previous->config->upstreams.find(name);
      if (ctx != previous->upstream_tls.end() && was != previous->config->upstreams.end() &&
          was->second.tls.same_settings(upstream.tls)) {
        rt.upstream_tls.emplace(name, ctx->second);
        continue;
      }
    }
    auto ctx = tls::ClientContext::create(upstream.tls, error);
    if (!ctx) {
      error = "upstream '" + name + "': " + error;
      return false;
    }
    rt.upstream_tls.emplace(name, std::move(ctx));
  }
  return true;
}

// The route's mechanisms in the order its `auth` lists them.
std::vector<std::shared_ptr<auth::Authenticator>> route_mechanisms(const config::Config& config,
                                                                   const config::RouteConfig& route,
                                                                   const Runtime& rt) {
  std::vector<std::shared_ptr<auth::Authenticator>> mechanisms;
  bool jwt_added = false;
  for (const auto& method : route.auth) {
    switch (method.kind) {
      case AuthKind::ApiKey:
        // Per route: the query parameter that may carry the key is a route option.
        if (rt.key_registry) {
          mechanisms.push_back(std::make_shared<auth::api_key::ApiKeyAuthenticator>(
              rt.key_registry, config.api_keys->header, route.api_key_query_param));
        }
        break;
      case AuthKind::Jwt:
        // One for all the route's jwt providers, where the first is listed. A JWT from an
        // issuer none of them knows, and an opaque bearer token, are left to the route's other
        // bearer mechanism (oauth2 introspects both) when there is one, else refused.
        if (!jwt_added) {
          jwt_added = true;
          mechanisms.push_back(auth::jwt::route_authenticator(route, rt.jwt_providers,
                                                              !route.has_auth(AuthKind::OAuth2)));
        }
        break;
      case AuthKind::OAuth2:
        mechanisms.push_back(std::make_shared<auth::oauth2::OAuth2Authenticator>(
            rt.oauth2_providers.at(method.provider)));
        break;
      case AuthKind::ClientCert:
        mechanisms.push_back(std::make_shared<auth::client_cert::ClientCertAuthenticator>(
            config.client_cert.client_id_from, route.auth.size() == 1));
        break;
    }
  }
  return mechanisms;
}

bool uses_rate_limits(const config::Config& config) {
  return std::any_of(config.routes.begin(), config.routes.end(),
                     [](const auto& r) { return !r.rate_limits.empty(); });
}

// With rate_limit_store, the shared limiter over the local one (its on_error: local
// fallback): the running one while the store's settings and the local limiter are unchanged,
// so its connection and reserved slices go on.
void open_shared_limiter(const config::Config& config, const Runtime* previous, Runtime& rt) {
  if (!config.rate_limit_store || !rt.local_limiter) return;
  if (previous != nullptr && previous->limiter &&
      previous->limiter.get() != previous->local_limiter.get() &&
      previous->local_limiter == rt.local_limiter &&
      previous->config->rate_limit_store == config.rate_limit_store) {
    rt.limiter = previous->limiter;
    return;
  }
  rt.limiter = ratelimit::make_shared_limiter(*config.rate_limit_store, rt.local_limiter);
}

// The first limit a route uses whose window is long enough to be persisted, or null: without
// one the state file is neither checked nor created.
const config::RateLimitConfig* persisted_limit(const config::Config& config) {
  for (const auto& route : config.routes) {
    for (const auto& name : route.rate_limits) {
      auto it = config.rate_limits.find(name);
      if (it != config.rate_limits.end() &&
          it->second.per_s >= config.rate_limit_local.persist_min_s) {
        return &it->second;
      }
    }
  }
  return nullptr;
}

// The rate limiter: the running one while rate_limit_local is unchanged (its counters go on),
// else a new one, which reads back what the running one has just saved. Then the shared one
// on top, when the config names a store.
bool open_limiter(const config::Config& config, const Runtime* previous, Runtime& rt,
                  std::string& error) {
  const auto& local = config.rate_limit_local;
  if (previous != nullptr && previous->local_limiter) {
    if (previous->config->rate_limit_local.same_settings(local)) {
      rt.local_limiter = previous->local_limiter;
      rt.limiter = rt.local_limiter;
      open_shared_limiter(config, previous, rt);
      return true;
    }
    std::string ignored;
    previous->local_limiter->save(ignored);
  }
  if (!uses_rate_limits(config)) return true;
  ratelimit::LocalLimiter::Options options;
  options.max_keys = local.max_keys;
  if (persisted_limit(config) != nullptr) options.state_file = local.state_file;
  options.persist_min_s = local.persist_min_s;
  options.save_interval_s = local.save_interval_s;
  rt.local_limiter = ratelimit::LocalLimiter::create(std::move(options), error);
  if (!rt.local_limiter) {
    error = positioned(local.state_file_at, error);
    return false;
  }
  rt.limiter = rt.local_limiter;
  std::weak_ptr<const ratelimit::LocalLimiter> weak = rt.local_limiter;
  observe::Metrics::global().add_live_gauge(weak, "portcullis_rate_limit_keys", {}, [weak] {
    auto l = weak.lock();
    return l ? std::optional<double>(static_cast<double>(l->tracked_keys())) : std::nullopt;
  });
  open_shared_limiter(config, previous, rt);
  return true;
}

// The listener's TLS contexts: the running ones when server.tls is unchanged.
bool open_listener_tls(const config::Config& config, const Runtime* previous, Runtime& rt,
                       std::string& error) {
  if (!config.server.tls) return true;
  if (previous != nullptr && previous->tls && previous->config->server.tls == config.server.tls) {
    rt.tls = previous->tls;
    return true;
  }
  rt.tls = tls::ServerTls::create(*config.server.tls, error);
  if (!rt.tls) error = "server.tls: " + error;
  return rt.tls != nullptr;
}

}  // namespace

Readiness Runtime::readiness() const {
  Readiness r;
  auto add = [&r](std::string dependency, std::string_view reason, bool gating) {
    if (reason.empty()) return;
    r.not_ready.push_back({std::move(dependency), std::string(reason), gating});
  };
  if (key_registry && !key_registry->loaded()) {
    // A database store waited for at start-up: no key can be decided (API-key routes answer
    // 503), so this gates whatever gates_readiness says (that is for a store lost later,
    // when the last good view still serves).
    add("api_keys", "key store not loaded yet", true);
  } else if (key_registry && !key_registry->store_ok()) {
    add("api_keys", "key store unreadable", config->api_keys->gates_readiness);
  }
  for (const auto& [name, provider] : jwt_providers) {
    add("jwt_providers." + name, provider->not_ready_reason(),
        config->jwt_providers.at(name).gates_readiness);
  }
  for (const auto& [name, provider] : oauth2_providers) {
    add("oauth2_providers." + name, provider->not_ready_reason(),
        config->oauth2_providers.at(name).gates_readiness);
  }
  return r;
}

void check_mechanism_configs(const config::Config& config, config::Diagnostics& out) {
  auth::jwt::check_provider_configs(config, out);
  tls::check_client_configs(config, out);
  tls::check_listener_tls(config, out);
  identity::check_signed_context(config, out);
}

void check_openable(const config::Config& config, config::Diagnostics& out) {
  std::string why;
  if (!observe::AccessLog::check_target(config.log.access, why)) {
    out.error(config.log.access_at, why);
  }
  // A database is not reached by `check` (run waits for one that is down, see store_factory.h).
  if (uses_key_store(config) &&
      config.api_keys->store_location.kind == config::KeyStoreKind::Sqlite &&
      !auth::api_key::SqliteKeyStore::check_location(config.api_keys->store_path, why)) {
    out.error(config.api_keys->store_at, "cannot open the key store " + why);
  }
  const auto& local = config.rate_limit_local;
  const config::RateLimitConfig* persisted = persisted_limit(config);
  if (persisted != nullptr && !local.state_file.empty() &&
      !ratelimit::StateFile::check_location(local.state_file, why)) {
    out.error(local.state_file_set ? local.state_file_at : persisted->mark,
              "cannot open the rate limit state file " + why);
  }
}

void check_config(const config::Config& config, config::Diagnostics& out) {
  check_mechanism_configs(config, out);
  check_openable(config, out);
}

std::shared_ptr<const Runtime> build_runtime(std::shared_ptr<const config::Config> config,
                                             std::string& error) {
  return build_runtime(std::move(config), nullptr, error);
}

std::shared_ptr<const Runtime> build_runtime(std::shared_ptr<const config::Config> config,
                                             std::shared_ptr<const Runtime> previous,
                                             std::string& error) {
  // What the loader leaves to the jwt mechanism (algorithm names, key material); a reload
  // gets here without passing through `check`.
  if (!auth::jwt::provider_configs_usable(*config, error)) return nullptr;
  auto rt = std::make_shared<Runtime>();
  static std::atomic<std::uint64_t> next_id{1};
  rt->id = next_id.fetch_add(1, std::memory_order_relaxed);
  rt->config = config;
  rt->router = proxy::Router(config->routes);
  // Headers filled from JWT claims are identity headers too: stripped inbound.
  rt->sanitizer = identity::Sanitizer(config->identity, auth::jwt::claim_header_names(*config));
  rt->access_log = observe::AccessLog::open(
      config->log.access, observe::Redactor(redacted_params(*config), kCredentialShapes), error);
  if (!rt->access_log) {
    error = positioned(config->log.access_at, error);
    return nullptr;
  }
  if (!open_upstream_tls(*config, previous.get(), *rt, error)) return nullptr;
  if (!open_mechanisms(*config, previous.get(), *rt, error)) return nullptr;
  if (!open_listener_tls(*config, previous.get(), *rt, error)) return nullptr;
  if (!open_limiter(*config, previous.get(), *rt, error)) return nullptr;
  if (config->identity.signed_context) {
    rt->signed_context = identity::ContextSigner::create(*config->identity.signed_context, error);
    if (!rt->signed_context) return nullptr;
  }

  for (const auto& route : config->routes) {
    RouteRuntime r;
    r.config = &route;
    r.upstream = &config->upstreams.at(route.upstream);
    if (auto it = rt->upstream_tls.find(route.upstream); it != rt->upstream_tls.end()) {
      r.upstream_tls = it->second.get();
    }
    auto mechanisms = route_mechanisms(*config, route, *rt);
    r.chain = auth::AuthChain(std::move(mechanisms), kCredentialShapes,
                              config->api_keys ? config->api_keys->header : std::string_view{});
    r.policy = policy::RoutePolicy(route);
    r.www_authenticate_missing = auth::missing_challenge(r.chain.challenges());
    r.limits = ratelimit::RouteLimits(*config, route);
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
