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

// The known key closest to a mistyped one (edit distance below 3, case-insensitive), or
// empty when none is close.
std::string_view closest_key(std::string_view key, std::span<const std::string_view> known);

}  // namespace portcullis::config
