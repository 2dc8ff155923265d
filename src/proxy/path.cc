#include "proxy/path.h"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

namespace portcullis::proxy {

namespace urls = boost::urls;

namespace {

bool has_encoded_separator(std::string_view p) {
  for (std::size_t i = 0; i + 2 < p.size(); ++i) {
    if (p[i] != '%') continue;
    const char a = p[i + 1], b = static_cast<char>(p[i + 2] | 0x20);
    if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0')) return true;
  }
  return false;
}

// Repeated slashes become one, before dot segments are resolved (as nginx does), so
// "/a//../b" is "/b".
std::string merge_slashes(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  return out;
}

}  // namespace

TargetError normalise_target(std::string_view raw, Target& out) {
  if (raw.empty()) return TargetError::Malformed;
  urls::url u;
  if (raw.front() == '/') {
    auto r = urls::parse_origin_form(raw);
    if (!r) return TargetError::Malformed;
    u = *r;
  } else {
    auto r = urls::parse_absolute_uri(raw);
    if (!r || (r->scheme() != "http" && r->scheme() != "https")) return TargetError::Malformed;
    u = *r;
    u.remove_authority().remove_scheme();
    if (u.encoded_path().empty()) u.set_encoded_path("/");
  }
  if (has_encoded_separator(u.encoded_path())) return TargetError::EncodedSeparator;
  out.has_query = u.has_query();
  out.query = std::string(u.encoded_query());
  u.remove_query();
  u.set_encoded_path(merge_slashes(u.encoded_path()));
  // The first pass decodes %2E into '.', which can form new dot segments; the second pass
  // removes those. Anything dot-like left after that is refused rather than forwarded.
  u.normalize_path();
  u.normalize_path();
  std::string_view p = u.encoded_path();
  if (p.empty() || p.front() != '/') return TargetError::Malformed;
  if (p.find("/../") != std::string_view::npos || p.ends_with("/..") ||
      p.find("/./") != std::string_view::npos || p.ends_with("/.")) {
    return TargetError::Malformed;
  }
  out.path.assign(p.data(), p.size());
  return TargetError::None;
}

std::string normalise_path(std::string_view path) {
  Target t;
  if (normalise_target(path, t) != TargetError::None) return std::string(path);
  return t.path;
}

}  // namespace portcullis::proxy
