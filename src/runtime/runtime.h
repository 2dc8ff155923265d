// Runtime: everything a request needs that is derived from one config snapshot — compiled
// routes, auth chains, policies, the sanitizer, the access log. Built whole, never changed;
// a reload builds a new one and swaps it in (RuntimeHolder), in-flight requests keep theirs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "auth/chain.h"
#include "config/config.h"
#include "config/diagnostics.h"
#include "identity/context_signer.h"
#include "identity/sanitizer.h"
#include "observe/access_log.h"
#include "policy/route_policy.h"
#include "proxy/router.h"
#include "ratelimit/limiter.h"
#include "ratelimit/route_limits.h"
#include "runtime/readiness.h"

namespace portcullis::auth::api_key {
class KeyRegistry;
}
namespace portcullis::auth::jwt {
class Provider;
}
namespace portcullis::auth::oauth2 {
class OAuth2Provider;
}
namespace portcullis::ratelimit {
class LocalLimiter;
}
namespace portcullis::tls {
class ClientContext;
class ServerTls;
}  // namespace portcullis::tls

namespace portcullis::runtime {

struct RouteRuntime {
  const config::RouteConfig* config = nullptr;
  const config::UpstreamConfig* upstream = nullptr;
  const tls::ClientContext* upstream_tls = nullptr;  // for an https upstream, else null
  auth::AuthChain chain;
  policy::RoutePolicy policy;
  std::string www_authenticate_missing;  // challenges for a request with no credential
  ratelimit::RouteLimits limits;         // the route's rate_limits, by when they are judged
};

struct Runtime {
  // Unique in the process, never reused (build_runtime numbers each runtime it builds): what
  // was derived from one runtime's config can be told from another's (e.g. an identity's
  // rendered header lines, identity::RenderedIdentity).
  std::uint64_t id = 0;
  std::shared_ptr<const config::Config> config;
  proxy::Router router;
  std::vector<RouteRuntime> routes;
  identity::Sanitizer sanitizer;
  std::shared_ptr<observe::AccessLog> access_log;

  // The mechanisms' long-lived state, by provider name. The next build_runtime keeps what its
  // config did not change.
  std::shared_ptr<auth::api_key::KeyRegistry> key_registry;
  std::map<std::string, std::shared_ptr<auth::jwt::Provider>> jwt_providers;
  std::map<std::string, std::shared_ptr<auth::oauth2::OAuth2Provider>> oauth2_providers;
  // The TLS context of each https upstream, by name; kept across a reload that leaves its
  // TLS settings unchanged, so pooled connections and resumable sessions stay usable.
  std::map<std::string, std::shared_ptr<const tls::ClientContext>> upstream_tls;
  // The listener's TLS contexts (server.tls); null: plain HTTP. Taken over by the next build
  // when server.tls (certificate and key contents included) is unchanged, so resumable
  // sessions survive a reload that does not touch TLS.
  std::shared_ptr<const tls::ServerTls> tls;
  // The one rate limiter of the process (null while no route lists a limit), asked by every
  // worker: the local one, or with rate_limit_store the shared one over it. Taken over by the
  // next build while the store's settings (rate_limit_local, and rate_limit_store for the
  // shared one) are unchanged, so counters, the Redis connection and reserved slices survive
  // a reload.
  std::shared_ptr<ratelimit::Limiter> limiter;
  std::shared_ptr<ratelimit::LocalLimiter> local_limiter;  // the same object, or the local
                                                           // store a shared one falls back to
  // identity.signed_context: the keys and the token cache; null when not configured. Built
  // anew on every reload (a new first key signs at once; the cache starts empty).
  std::shared_ptr<const identity::ContextSigner> signed_context;

  // The mechanisms' state the routes depend on, each not ready with why (/readyz): a JWT
  // provider without usable keys, an OAuth2 provider before discovery or with its breaker
  // open, an unreadable key store. Gating as the config's gates_readiness says.
  Readiness readiness() const;
};

// What the loader leaves to the mechanisms (a JWT provider's algorithm names and key files,
// the signed identity context's private keys) and to OpenSSL (server.tls: certificates, keys,
// expiry; the TLS client settings' PEM files: tls/config_check.h), as diagnostics at the positions
// the config kept: `check` and `run` report them as they report the loader's
// (config::check_loaded).
void check_mechanism_configs(const config::Config& config, config::Diagnostics& out);
// What build_runtime will open, checked without creating anything: the access-log file
// (`log.access`) and the key store (`api_keys.store`, when a route takes API keys), each
// reported at its place in the file with the OS's reason.
void check_openable(const config::Config& config, config::Diagnostics& out);
// Both: what `check`, `run` and a reload pass to config::check_loaded.
void check_config(const config::Config& config, config::Diagnostics& out);

// Builds the runtime for a validated config. `previous` is the runtime it replaces on a
// reload: a mechanism whose settings are unchanged is taken over with its state (a JWT
// provider's key set and token cache, an OAuth2 provider's cache and breaker, the key
// registry), anything else is built new. Returns null with `error` set when a part cannot be
// built (e.g. the access log file cannot be opened).
std::shared_ptr<const Runtime> build_runtime(std::shared_ptr<const config::Config> config,
                                             std::shared_ptr<const Runtime> previous,
                                             std::string& error);
// The first build, with nothing to take over.
std::shared_ptr<const Runtime> build_runtime(std::shared_ptr<const config::Config> config,
                                             std::string& error);

// The current snapshot. Workers cache it and re-read only when the version moves, so the
// request path pays one relaxed atomic load.
class RuntimeHolder {
 public:
  void set(std::shared_ptr<const Runtime> rt);
  std::shared_ptr<const Runtime> get() const;
  std::uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Runtime> current_;
  std::atomic<std::uint64_t> version_{0};
};

}  // namespace portcullis::runtime
