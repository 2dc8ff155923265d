// Identity: who is calling, as proved by authentication. The one value that the forwarder
// turns into upstream headers; nothing else writes identity headers.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace portcullis::identity {

struct Identity {
  std::string subject;    // X-User-Id (end user; empty for machine clients)
  std::string client_id;  // X-Client-Id
  std::vector<std::string> scopes;
  std::vector<std::string> roles;
  std::string auth_method;  // "api-key", "jwt", "oauth2"; empty when the route has auth: none
  std::string credential_id;  // non-secret handle for logs (API key id, token hash prefix)
  // Extra upstream headers from claims (claims_to_headers): header name -> value.
  std::vector<std::pair<std::string, std::string>> extra_headers;

  bool authenticated() const { return !auth_method.empty(); }
  bool has_scope(std::string_view scope) const;
  bool has_role(std::string_view role) const;
  // True when no value that becomes an upstream header holds a control character (CR, LF,
  // NUL...): the mechanisms refuse such identities, and the forwarder checks again.
  bool header_safe() const;
};

// True when `s` holds a control character (below 0x20, or DEL).
bool has_control(std::string_view s);

// Splits a space-separated scope string ("a b  c") into scopes.
std::vector<std::string> split_scopes(std::string_view text);
// Joins with single spaces.
std::string join(const std::vector<std::string>& items, char sep = ' ');

}  // namespace portcullis::identity
