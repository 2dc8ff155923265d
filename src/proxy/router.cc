#include "proxy/router.h"

#include <algorithm>

#include "url/host_pattern.h"

namespace portcullis::proxy {

std::string canonical_host(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto end = host.find(']');
    if (end != std::string_view::npos) host = host.substr(0, end + 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string out(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

Router::Router(const std::vector<config::RouteConfig>& routes) {
  entries_.reserve(routes.size());
  for (const auto& r : routes) {
    Entry e;
    e.exact = r.match.path.has_value();
    e.path = e.exact ? *r.match.path : r.match.path_prefix.value_or("/");
    e.methods = r.match.methods;
    e.host = r.match.host.value_or("");
    entries_.push_back(std::move(e));
  }
}

bool Router::prefix_matches(std::string_view prefix, std::string_view path) {
  if (prefix == "/" || prefix.empty()) return true;
  if (!path.starts_with(prefix)) return false;
  return path.size() == prefix.size() || path[prefix.size()] == '/';
}

int Router::match(std::string_view method, std::string_view host, std::string_view path) const {
  std::string canon;
  bool canon_done = false;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    if (e.exact ? path != e.path : !prefix_matches(e.path, path)) continue;
    if (!e.methods.empty() &&
        std::find(e.methods.begin(), e.methods.end(), method) == e.methods.end()) {
      continue;
    }
    if (!e.host.empty()) {
      if (!canon_done) {
        canon = canonical_host(host);
        canon_done = true;
      }
      if (!url::host_matches(e.host, canon)) continue;
    }
    return static_cast<int>(i);
  }
  return -1;
}

}  // namespace portcullis::proxy
