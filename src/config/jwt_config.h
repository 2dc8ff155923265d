// The `jwt_providers` section: where each provider's keys come from and how its tokens are
// checked. Filled by config/jwt_section.cc, which checks shapes only; what needs the JWT
// mechanism's knowledge (algorithm names, key material, and that they fit) is checked by
// auth/jwt/config_check.h at the marks kept here. Included from config.h.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/mark.h"
#include "config/secret.h"
#include "config/tls_config.h"
#include "url/http_url.h"

namespace portcullis::config {

// An http:// or https:// URL the gateway fetches from (JWKS, discovery): the one identity-provider
// URL type and parser (url/http_url.h).
using FetchUrl = url::HttpUrl;
inline bool parse_fetch_url(std::string_view text, FetchUrl& out, std::string& error) {
  return url::parse_http_url(text, out, error);
}

struct JwtProviderConfig {
  enum class KeySource { JwksUri, JwksFile, PublicKeyFile, Secret, Discovery };

  std::string name;
  std::string issuer;                   // exact match with the token's iss
  std::vector<std::string> audiences;   // the token's aud must contain one of them
  std::vector<std::string> algorithms;  // allow-list as written ("RS256", "EdDSA"); the
                                        // mechanism checks the names (config_check.h)

  KeySource key_source = KeySource::JwksUri;
  FetchUrl jwks_uri;            // JwksUri
  FetchUrl discovery;           // Discovery: .well-known/openid-configuration
  std::string jwks_file;        // JwksFile: absolute path
  std::string jwks_json;        // JwksFile: its content, read at load
  std::string public_key_file;  // PublicKeyFile: absolute path
  std::string public_key_pem;   // PublicKeyFile: its content, read at load
  Secret secret;                // Secret: HMAC key, from ${ENV} or file:

  unsigned clock_skew_s = 60;
  std::size_t max_token_bytes = 8192;
  std::vector<std::string> required_claims{"exp"};
  std::optional<unsigned> max_lifetime_s;
  std::optional<std::string> typ;  // e.g. "at+jwt"; compared case-insensitively,
                                   // with or without "application/"
  std::string scopes_claim;        // empty: "scope" (space-separated) or "scp"
  std::string roles_claim;         // dotted path, e.g. realm_access.roles; empty: none
  std::string rate_limit_claim;    // dotted path to the token's rate plan; empty: none
  std::vector<std::pair<std::string, std::string>> claims_to_headers;  // claim -> header
  std::optional<std::string> header;  // extra header carrying the bare token
  std::optional<std::string> cookie;  // cookie carrying the bare token

  unsigned jwks_refresh_s = 300;
  unsigned jwks_min_refresh_s = 30;
  unsigned jwks_max_refresh_s = 86400;
  unsigned jwks_refetch_cooldown_s = 10;
  unsigned jwks_max_stale_s = 86400;
  unsigned jwks_timeout_ms = 3000;
  std::size_t token_cache_entries = 100000;  // 0 disables the verified-token cache
  unsigned cache_max_s = 300;
  TlsClientConfig tls;  // for https:// (jwks_uri, discovery, the jwks_uri discovery names)
  // Whether this provider not being ready (no keys) makes /readyz answer 503. Not a setting
  // of the provider itself: a reload that changes only this keeps the running provider.
  bool gates_readiness = true;
  // RFC 8705 §3: the token's cnf["x5t#S256"] must be the thumbprint of the client
  // certificate on the connection that presents it.
  bool require_cert_binding = false;

  // Positions, for messages: the provider's name, each item of `algorithms`, and the
  // secret or key file, for the checks the jwt mechanism makes (auth/jwt/config_check.h).
  Mark mark;
  std::vector<Mark> algorithm_marks;  // parallel to `algorithms`
  Mark secret_mark;
  Mark key_file_mark;      // jwks_file or public_key_file
  Mark cert_binding_mark;  // require_cert_binding

  // Equal settings; positions compare too (same_settings() ignores them).
  friend bool operator==(const JwtProviderConfig&, const JwtProviderConfig&) = default;

  // The positions (and gates_readiness) taken from `from`: what a reload compares to decide
  // whether a running provider can be kept wherever it is now written in the file.
  JwtProviderConfig with_positions_of(const JwtProviderConfig& from) const {
    JwtProviderConfig c = *this;
    c.mark = from.mark;
    c.algorithm_marks = from.algorithm_marks;
    c.secret_mark = from.secret_mark;
    c.key_file_mark = from.key_file_mark;
    c.tls.ca_mark = from.tls.ca_mark;
    c.tls.cert_mark = from.tls.cert_mark;
    c.tls.key_mark = from.tls.key_mark;
    c.gates_readiness = from.gates_readiness;
    c.cert_binding_mark = from.cert_binding_mark;
    return c;
  }
};

}  // namespace portcullis::config
