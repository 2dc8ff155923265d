// The lexical rules of config values, shared by every section: names, HTTP tokens, case
// folding, and the did-you-mean suggestion for a mistyped key.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace portcullis::config {

std::string to_lower(std::string_view s);
std::string to_upper(std::string_view s);

// RFC 9110 §5.6.2 token: header names, methods, cookie names.
bool is_token(std::string_view s);

// Names of routes, upstreams and providers appear in logs and metric labels, so they keep
// to a boring alphabet: letters, digits, '_', '-' and '.'.
bool is_simple_name(std::string_view s);

// A query parameter name made of unreserved characters only (letters, digits, '-', '.',
// '_', '~'): it is matched after percent-decoding, and reads the same in the config, the
// URL and the access log.
bool is_plain_query_param(std::string_view s);

bool has_space_or_control(std::string_view s);

// Lower case with '_' as '-': how the sanitizer compares header names (servers behind CGI,
// WSGI or Rack read both spellings as one).
std::string header_key(std::string_view h);

// Why the gateway cannot read a credential from, or write a value of its own to, header `h`
// (as written), or empty when it can: the framing and hop-by-hop headers and Host (the
// proxy's own), the credentials it handles itself (Authorization, Proxy-Authorization,
// Cookie) and the forwarding headers it sets.
std::string_view reserved_header(std::string_view h);

// Why header `h` cannot be removed from every request (identity.strip_inbound), or empty:
// Host, Content-Length, Transfer-Encoding and Authorization. (The other hop-by-hop headers
// are harmless there: the proxy drops them anyway.)
std::string_view unstrippable_header(std::string_view h);

// The known key closest to a mistyped one (edit distance below 3, case-insensitive), or
// empty when none is close.
std::string_view closest_key(std::string_view key, std::span<const std::string_view> known);

}  // namespace portcullis::config
