// Identity: who is calling, as proved by authentication. The one value that the forwarder
// turns into upstream headers; nothing else writes identity headers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::identity {

// A per-credential rate plan (issue 13 item 3: an API key's --rate-limit, or a token's
// rate_limit_claim): replaces the route's `key: client_id` limits for this identity.
struct RatePlan {
  std::uint64_t requests = 0;
  std::uint32_t per_s = 0;
  bool operator==(const RatePlan&) const = default;
};

struct Identity {
  std::string subject;    // X-User-Id (end user; empty for machine clients)
  std::string client_id;  // X-Client-Id
  std::vector<std::string> scopes;
  std::vector<std::string> roles;
  // "api-key", "jwt", "oauth2", "client-cert"; empty when the route has auth: none
  std::string auth_method;
  std::string credential_id;  // non-secret handle for logs (API key id, token hash prefix)
  // Extra upstream headers from claims (claims_to_headers): header name -> value.
  std::vector<std::pair<std::string, std::string>> extra_headers;
  // RFC 8705: the certificate thumbprint a token is bound to (its cnf["x5t#S256"]), kept with
  // the identity in the token caches so the binding is checked on every request; empty when
  // the token carries none. Never forwarded.
  std::string cert_binding;
  // The SHA-256 thumbprint (base64url) of the client certificate that proved this identity
  // (client_cert, or a certificate-bound token that matched it); forwarded when
  // client_cert.thumbprint_header is set.
  std::string cert_thumbprint;
  std::optional<RatePlan> rate_plan;

  bool authenticated() const { return !auth_method.empty(); }
  bool has_scope(std::string_view scope) const;
  bool has_role(std::string_view role) const;
  // True when no value that becomes an upstream header holds a control character (CR, LF,
  // NUL...): the mechanisms refuse such identities, and the forwarder checks again.
  bool header_safe() const;
};

// An identity's upstream header lines (who, scopes, roles, method, thumbprint, claims), as
// forward_identity rendered them for the runtime numbered `runtime_id` (whose config names
// the headers; a reload may rename them). Kept beside an identity that serves many requests
// (a connection's credential memo) so that each request appends the lines instead of
// checking and joining the values again; only lines that passed header_safe() are kept.
struct RenderedIdentity {
  std::uint64_t runtime_id = 0;  // 0: nothing rendered
  std::string lines;
};

// True when `s` holds a control character (below 0x20, or DEL).
bool has_control(std::string_view s);

// Splits a space-separated scope string ("a b  c") into scopes.
std::vector<std::string> split_scopes(std::string_view text);
// Joins with single spaces.
std::string join(const std::vector<std::string>& items, char sep = ' ');

}  // namespace portcullis::identity
