// A route's host, shared by the config loader and the router so that the two agree on what
// it matches: an exact name ("api.example.com") or a wildcard ("*.example.com"), which
// matches one or more labels in front of its domain ("eu.api.example.com" too, never
// "example.com" itself). Patterns and hosts are in lower case, without a port.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::url {

// "*." followed by a domain name.
bool is_wildcard_host(std::string_view pattern);

// Empty when `pattern` (lower case, containing '*') is a well-formed wildcard; otherwise why
// not. Exact names are checked by the loader as URL authorities.
std::string wildcard_host_problem(std::string_view pattern);

// Whether a request's host (lower case, port removed) is one `pattern` matches.
bool host_matches(std::string_view pattern, std::string_view host);

// Whether every host `inner` matches, `outer` matches too (a pattern covers itself).
bool host_covers(std::string_view outer, std::string_view inner);

// Whether some host matches both patterns.
bool hosts_overlap(std::string_view a, std::string_view b);

}  // namespace portcullis::url
