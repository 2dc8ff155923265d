// The `oauth2_providers` section: authorization servers whose opaque access tokens the
// gateway checks by RFC 7662 introspection. Parsed by config/oauth2_section.cc.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config/mark.h"
#include "config/secret.h"
#include "config/tls_config.h"
#include "url/http_url.h"

namespace portcullis::config {

// The identity-provider URL type and its parser live in url/http_url.h (shared with the
// request path's library); config code and the mechanisms name them through config::.
using HttpUrl = url::HttpUrl;
using url::parse_http_url;

enum class ClientAuthMethod : std::uint8_t { ClientSecretBasic, ClientSecretPost };

struct OAuth2ProviderConfig {
  std::string name;
  HttpUrl introspection_endpoint;  // empty when it comes from discovery
  HttpUrl discovery;               // …/.well-known/openid-configuration, or empty
  std::string client_id;
  Secret client_secret;  // resolved ${ENV} or file:
  ClientAuthMethod auth_method = ClientAuthMethod::ClientSecretBasic;
  std::optional<std::string> issuer;   // expected `iss` (from discovery when not set)
  std::vector<std::string> audiences;  // `aud` must intersect when set
  unsigned timeout_ms = 2000;
  unsigned cache_s = 60;           // positive answers: until min(exp, now + cache_s)
  unsigned negative_cache_s = 10;  // refusals
  std::size_t cache_entries = 100000;
  std::string scopes_claim;       // empty: `scope` (space-separated) or `scp` (string or array)
  std::string roles_claim;        // dotted path, e.g. realm_access.roles; empty: no roles
  std::string rate_limit_claim;   // dotted path to the token's rate plan; empty: none
  unsigned breaker_failures = 5;  // consecutive provider failures that open the breaker
  unsigned breaker_open_s = 5;    // how long it stays open before one trial call
  TlsClientConfig tls;  // for https:// (the endpoint, discovery, the endpoint discovery names)
  // Whether this provider not being ready (discovery pending, breaker open) makes /readyz
  // answer 503. Not a setting of the provider: a reload changing only this keeps it running.
  bool gates_readiness = true;
  // RFC 8705 §3: the introspection answer's cnf["x5t#S256"] must be the thumbprint of the
  // client certificate on the connection that presents the token.
  bool require_cert_binding = false;
  Mark cert_binding_mark;
  int line = 0;  // position of the provider's name, for messages
  int col = 0;

  friend bool operator==(const OAuth2ProviderConfig&, const OAuth2ProviderConfig&) = default;
};

}  // namespace portcullis::config
