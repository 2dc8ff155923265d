// The validated, immutable configuration. Produced only by the loader (loader.h); the
// running gateway holds it as shared_ptr<const Config> and swaps whole snapshots on reload.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/jwt_config.h"
#include "config/key_store_url.h"
#include "config/listener_tls_config.h"
#include "config/mark.h"
#include "config/oauth2_config.h"
#include "config/rate_limit_config.h"
#include "config/rate_limit_store_config.h"
#include "config/secret.h"
#include "config/tls_config.h"
#include "ip/cidr.h"

namespace portcullis::config {

struct ListenAddress {
  std::string host = "127.0.0.1";  // IPv4 or IPv6 literal (brackets removed) or "localhost"
  uint16_t port = 8080;
  std::string str() const;  // "127.0.0.1:8080" or "[::1]:8080"
};

struct ServerConfig {
  ListenAddress listen;
  unsigned workers = 1;  // 0 = one per core
  std::size_t max_header_bytes = 16384;
  std::uint64_t max_body_bytes = 10485760;  // 0 = unlimited
  unsigned header_timeout_s = 10;           // whole request head must arrive within this
  unsigned idle_timeout_s = 60;             // keep-alive connection with no request
  unsigned body_timeout_s = 60;             // no body bytes for this long (either direction)
  unsigned drain_delay_s = 5;               // SIGTERM: /readyz fails, still accepting
  unsigned drain_timeout_s = 30;            // then in-flight requests get this long
  std::size_t max_connections = 20000;      // further connections are closed at once
  // Peers whose X-Forwarded-For (and -Proto, -Host) the gateway believes; empty: none.
  std::vector<ip::Cidr> trusted_proxies;
  bool proxy_protocol = false;  // every connection starts with a PROXY protocol v1/v2 header
  std::optional<ListenerTlsConfig> tls;  // `tls:` present: the listener speaks TLS only
};

struct AdminConfig {
  bool enabled = true;
  ListenAddress listen{"127.0.0.1", 9901};
};

struct UpstreamConfig {
  std::string name;
  std::string url;          // as written
  std::string scheme;       // "http" or "https"
  std::string host;         // host to connect to
  uint16_t port = 80;       // 443 by default for https
  std::string base_path;    // path prefix from the URL, without trailing '/', often ""
  std::string host_header;  // Host sent upstream: the URL's authority
  double timeout_s = 30;    // whole response head must arrive within this
  double connect_timeout_s = 5;
  unsigned max_idle_connections = 64;  // per worker
  unsigned idle_timeout_s = 60;        // pooled connection kept at most this long
  TlsClientConfig tls;                 // used when scheme is https
  Mark mark;
  bool https() const { return scheme == "https"; }
};

struct IdentityHeaders {
  std::string user_id = "X-User-Id";
  std::string client_id = "X-Client-Id";
  std::string scopes = "X-User-Scopes";
  std::string roles = "X-User-Roles";
  std::string auth_method = "X-Auth-Method";
  std::string request_id = "X-Request-Id";
  // The client certificate's SHA-256 thumbprint (base64url, as RFC 8705's x5t#S256), set by
  // client_cert.thumbprint_header; empty: not forwarded.
  std::string cert_thumbprint;
};

// The signed identity context's algorithms (identity.signed_context.algorithm).
enum class ContextAlg : std::uint8_t { EdDSA, ES256 };

// One signing key of the signed identity context: a PEM private key read through a secret
// reference (`key_file: file:PATH`), and the kid it is published under.
struct ContextKeyConfig {
  std::string kid;
  std::string key_file;  // as written ("file:keys/ctx.pem"), for messages
  Secret pem;            // the private key's PEM text
  Mark at;               // where key_file is written
  friend bool operator==(const ContextKeyConfig& a, const ContextKeyConfig& b) {
    return a.kid == b.kid && a.pem == b.pem;
  }
};

// `identity.signed_context`: a compact JWS the gateway sets on every forwarded request so that
// upstreams can verify the identity headers came from it (identity/context_signer.h).
struct SignedContextConfig {
  std::string header = "X-Identity-Token";
  std::string issuer;
  ContextAlg algorithm = ContextAlg::EdDSA;
  std::vector<ContextKeyConfig> keys;     // the first signs; all are published
  unsigned ttl_s = 60;                    // exp - iat
  bool per_request = false;               // sign every request (with rid) instead of caching
  bool anonymous = false;                 // also sign on `auth: none` routes
  std::optional<std::string> jwks_route;  // the JWKS on the main listener too, at this path
  std::size_t cache_entries = 10000;      // cached tokens, at most, across all shards
  Mark mark;
  Mark jwks_route_at;
  friend bool operator==(const SignedContextConfig& a, const SignedContextConfig& b) {
    return a.header == b.header && a.issuer == b.issuer && a.algorithm == b.algorithm &&
           a.keys == b.keys && a.ttl_s == b.ttl_s && a.per_request == b.per_request &&
           a.anonymous == b.anonymous && a.jwks_route == b.jwks_route &&
           a.cache_entries == b.cache_entries;
  }
};

struct IdentityConfig {
  IdentityHeaders headers;
  std::vector<std::string> strip_inbound;  // extra header names removed from every request
  std::optional<SignedContextConfig> signed_context;
};

struct RouteMatch {
  std::optional<std::string> path;         // exact, normalised form
  std::optional<std::string> path_prefix;  // segment-aware prefix, normalised, no trailing '/'
  std::vector<std::string> methods;        // upper case; empty = any
  std::optional<std::string> host;         // lower case, port removed; exact or "*.domain"
};

// A route's authentication method, typed once by the loader from "api_key", "jwt:NAME",
// "oauth2:NAME" or "client_cert"; nothing after the loader reads the written form.
enum class AuthKind : std::uint8_t { ApiKey, Jwt, OAuth2, ClientCert };

struct AuthMethod {
  AuthKind kind = AuthKind::ApiKey;
  std::string provider;  // the jwt_providers or oauth2_providers entry; empty otherwise

  // As written in the config ("api_key", "jwt:main", "oauth2:corp", "client_cert").
  std::string str() const {
    switch (kind) {
      case AuthKind::ApiKey:
        return "api_key";
      case AuthKind::Jwt:
        return "jwt:" + provider;
      case AuthKind::OAuth2:
        return "oauth2:" + provider;
      case AuthKind::ClientCert:
        return "client_cert";
    }
    return {};
  }
  friend bool operator==(const AuthMethod&, const AuthMethod&) = default;
};

// What a route does with a request it would refuse for who the caller is or what the caller
// may do (authentication, policy): answer the refusal, or, in shadow mode, forward the
// request anyway (without an identity the credential did not prove) and record what it
// would have answered (docs/shadow-mode.md). `enforcement: enforce | shadow` in the file.
enum class Enforcement : std::uint8_t { Enforce, Shadow };

struct RouteConfig {
  std::string name;
  RouteMatch match;
  std::string upstream;
  bool auth_none = false;                      // `auth: none`
  std::vector<AuthMethod> auth;                // methods in order: api_key, jwt:NAME, oauth2:NAME
  std::vector<std::string> require_scopes;     // all of
  std::vector<std::string> require_any_scope;  // at least one of
  std::vector<std::string> require_roles;      // all of
  std::vector<std::string> allow_clients;      // client id must be one of
  bool forward_authorization = false;
  std::optional<std::string> strip_prefix;  // removed from the path before forwarding
  // Query parameter that may carry an API key on this route (off when unset). Needs api_key
  // in `auth`; the parameter is removed before forwarding and redacted in the access log.
  std::optional<std::string> api_key_query_param;
  // Query parameter that may carry a bearer JWT on this route (off when unset). Needs a
  // jwt: method in `auth`; removed before forwarding and redacted in the access log.
  std::optional<std::string> jwt_query_param;
  // Later routes this one may take requests from although it authenticates less (`shadows:`
  // in the file): without it, such an overlap is an error (routes_section.cc).
  std::vector<std::string> shadows;
  std::vector<Mark> shadows_marks;  // one per item of `shadows`
  // `enforcement:` (not to be confused with `shadows`, which is about route order).
  Enforcement enforcement = Enforcement::Enforce;
  Mark enforcement_at;  // where `enforcement` is written
  // Names of `rate_limits` entries, in the order written; every one must admit a request.
  std::vector<std::string> rate_limits;
  std::vector<Mark> rate_limits_marks;  // one per item of `rate_limits`
  Mark mark;

  bool has_auth(AuthKind kind) const {
    return std::any_of(auth.begin(), auth.end(),
                       [kind](const AuthMethod& m) { return m.kind == kind; });
  }
};

// How the gateway's own messages (stderr) are written; the access log is always JSON.
enum class LogFormat : std::uint8_t { Text, Json };

struct LogConfig {
  std::string level = "info";                    // trace, debug, info, warn, error
  LogFormat format = LogFormat::Text;            // `format: text | json`
  std::string access = "stdout";                 // stdout, stderr, off, or a file path
  std::vector<std::string> redact_query_params;  // values written as "[redacted]"
  Mark access_at;                                // where `access` is written
};

// The `api_keys` section: where the key registry lives and how keys are presented.
struct ApiKeysConfig {
  std::string header = "X-API-Key";   // also accepted: Authorization: ApiKey <key>
  std::string store;                  // as written, any password masked: for messages
  std::string store_path;             // SQLite: the file, absolute
  KeyStoreLocation store_location;    // parsed (config/key_store_url.h)
  Secret store_password;              // PostgreSQL: from the URL or api_keys.password
  std::string schema = "portcullis";  // PostgreSQL: the schema holding the tables
  Secret pepper;                      // HMAC key for stored secrets; resolved ${ENV} or file:
  unsigned poll_interval_ms = 1000;   // how often the gateway looks for changed keys
  bool gates_readiness = true;        // whether an unreadable store makes /readyz answer 503
  Mark mark;
  Mark store_at;   // where `store` is written
  Mark header_at;  // where `header` is written; no position for the default
};

struct Config {
  std::string source_path;  // the file it was loaded from
  ServerConfig server;
  AdminConfig admin;
  std::map<std::string, UpstreamConfig> upstreams;
  IdentityConfig identity;
  std::vector<RouteConfig> routes;
  LogConfig log;
  std::optional<ApiKeysConfig> api_keys;
  std::map<std::string, JwtProviderConfig> jwt_providers;        // config/jwt_config.h
  std::map<std::string, OAuth2ProviderConfig> oauth2_providers;  // config/oauth2_config.h
  ClientCertConfig client_cert;                                  // config/listener_tls_config.h
  std::map<std::string, RateLimitConfig> rate_limits;            // config/rate_limit_config.h
  RateLimitLocalConfig rate_limit_local;
  // The shared rate-limit store (config/rate_limit_store_config.h); absent: limits are local.
  std::optional<RateLimitStoreConfig> rate_limit_store;
};

}  // namespace portcullis::config
