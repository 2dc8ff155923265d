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
  // The path routing matches: `path` with each segment's ";parameters" removed, as servlet
  // containers (Tomcat, Jetty, Spring) read it, so a route sees the path such an upstream
  // will serve. Empty when `path` has no ';' (then it is `path`).
  std::string route_path;

  std::string_view routing_path() const { return route_path.empty() ? path : route_path; }
};

enum class TargetError {
  None,
  Malformed,
  EncodedSeparator,
  DotSegmentParameter,  // "..;x" or ".;x": a dot segment some upstreams resolve, others not
};

// Parses an origin-form ("/a/b?q") or absolute-form ("http://h/a") target. An absolute-form
// target must have an authority; the origin form is rebuilt from its parsed path and query.
// An encoded '/', '\' or NUL in the path is refused (EncodedSeparator): upstreams disagree
// about what they mean.
TargetError normalise_target(std::string_view raw, Target& out);

}  // namespace portcullis::proxy
