// Request-target handling: the path is normalised before routing (percent-encoding of
// unreserved characters decoded, dot segments removed, repeated slashes merged), and that
// normalised path is what the upstream receives.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::proxy {

struct Target {
  std::string path;   // normalised, percent-encoded where needed, starts with '/'
  std::string query;  // without '?', as received; empty when absent
  bool has_query = false;
};

enum class TargetError { None, Malformed, EncodedSeparator };

// Parses an origin-form ("/a/b?q") or absolute-form ("http://h/a") target.
// An encoded '/', '\' or NUL in the path is refused (EncodedSeparator): upstreams disagree
// about what they mean.
TargetError normalise_target(std::string_view raw, Target& out);

}  // namespace portcullis::proxy
