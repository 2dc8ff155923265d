#include "url/host_pattern.h"

namespace portcullis::url {
namespace {

bool label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// Dot-separated non-empty labels of letters, digits, '-' and '_'.
bool is_domain(std::string_view s) {
  if (s.empty()) return false;
  bool label_started = false;
  for (char c : s) {
    if (c == '.') {
      if (!label_started) return false;
      label_started = false;
    } else if (label_char(c)) {
      label_started = true;
    } else {
      return false;
    }
  }
  return label_started;
}

}  // namespace

bool is_wildcard_host(std::string_view pattern) {
  return pattern.size() > 2 && pattern.starts_with("*.") && is_domain(pattern.substr(2));
}

std::string wildcard_host_problem(std::string_view pattern) {
  if (is_wildcard_host(pattern)) return {};
  return "a wildcard host is '*.' followed by a domain name, such as *.example.com (it matches "
         "one or more labels in front of the domain); '*' may appear nowhere else";
}

bool host_matches(std::string_view pattern, std::string_view host) {
  if (!pattern.starts_with("*.")) return host == pattern;
  const std::string_view suffix = pattern.substr(1);  // ".example.com"
  if (host.size() <= suffix.size() || !host.ends_with(suffix)) return false;
  return is_domain(host.substr(0, host.size() - suffix.size()));
}

bool host_covers(std::string_view outer, std::string_view inner) {
  if (outer == inner) return true;
  if (!outer.starts_with("*.")) return false;
  // An exact inner is covered when it matches; a wildcard inner when its domain does
  // ("*.eu.example.com" under "*.example.com").
  return host_matches(outer, inner.starts_with("*.") ? inner.substr(2) : inner);
}

bool hosts_overlap(std::string_view a, std::string_view b) {
  return host_covers(a, b) || host_covers(b, a);
}

}  // namespace portcullis::url
