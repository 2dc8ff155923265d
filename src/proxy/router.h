// Router: the route table compiled once per config. Routes are tried in file order and the
// first match wins; nothing is parsed per request.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace portcullis::proxy {

class Router {
 public:
  Router() = default;
  explicit Router(const std::vector<config::RouteConfig>& routes);

  // Index into the config's routes, or -1. `path` is normalised; `host` is the Host header
  // as received (case and port are ignored), matched against a route's exact host or
  // wildcard (url/host_pattern.h). File order decides; the loader refuses a wildcard route in
  // front of a route with a more specific host, so an exact host always wins over a
  // wildcard, and a longer wildcard over a shorter one.
  int match(std::string_view method, std::string_view host, std::string_view path) const;

  // Segment-aware prefix: "/v1/orders" matches "/v1/orders" and "/v1/orders/7",
  // not "/v1/ordersX".
  static bool prefix_matches(std::string_view prefix, std::string_view path);

 private:
  struct Entry {
    bool exact = false;
    std::string path;
    std::vector<std::string> methods;
    std::string host;  // empty = any; "*.example.com" = a wildcard
  };
  std::vector<Entry> entries_;
};

// Lower case, without the port: "API.Example.com:8080" → "api.example.com".
std::string canonical_host(std::string_view host);

}  // namespace portcullis::proxy
