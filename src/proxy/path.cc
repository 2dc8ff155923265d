// Request-target normalisation (see path.h); the path rules are url/path.h, shared with the
// config loader.
#include "proxy/path.h"

#include <algorithm>
#include <array>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cctype>

#include "url/path.h"

namespace portcullis::proxy {

namespace urls = boost::urls;

namespace {

// True when an origin-form target is already in normal form: only unreserved characters,
// sub-delims, ':' and '@' in the path (no '%', so nothing to decode), no empty or dot
// segments, and a query of plain query characters. Most requests take this path and skip
// Boost.URL entirely; anything else gets the full treatment.
bool already_normal(std::string_view raw, Target& out) {
  static constexpr auto table = [] {
    std::array<unsigned char, 256> t{};  // 1 = path char, 2 = query char
    for (int c = 'a'; c <= 'z'; ++c) t[c] = 3;
    for (int c = 'A'; c <= 'Z'; ++c) t[c] = 3;
    for (int c = '0'; c <= '9'; ++c) t[c] = 3;
    for (unsigned char c : std::string_view("-._~!$&'()*+,;=:@")) t[c] = 3;
    t['/'] = 3;
    t['?'] = 2;
    t['%'] = 2;
    return t;
  }();
  std::size_t i = 0;
  const std::size_t n = raw.size();
  if (n == 0 || raw[0] != '/') return false;
  std::size_t seg_start = 1;
  for (; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(raw[i]);
    if (c == '?') break;
    if (!(table[c] & 1)) return false;
    if (c == '/' && i > 0) {
      std::string_view seg = raw.substr(seg_start, i - seg_start);
      if (seg.empty() || seg == "." || seg == "..") return false;
      seg_start = i + 1;
    }
  }
  std::string_view last = raw.substr(seg_start, i - seg_start);
  if (last == "." || last == "..") return false;
  out.path.assign(raw.data(), i);
  if (i < n) {
    for (std::size_t j = i + 1; j < n; ++j) {
      const unsigned char c = static_cast<unsigned char>(raw[j]);
      if (!(table[c] & 2) && !(table[c] & 1)) return false;
      if (c == '%' && (j + 2 >= n || !std::isxdigit(static_cast<unsigned char>(raw[j + 1])) ||
                       !std::isxdigit(static_cast<unsigned char>(raw[j + 2])))) {
        return false;
      }
    }
    out.has_query = true;
    out.query.assign(raw.data() + i + 1, n - i - 1);
  } else {
    out.has_query = false;
    out.query.clear();
  }
  return true;
}

// Path parameters: a dot segment that carries one is refused; otherwise the routing path is
// the path without them.
TargetError finish(Target& out) {
  out.route_path.clear();
  if (out.path.find(';') == std::string::npos) return TargetError::None;
  std::string_view rest = out.path;
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the '/'
    const std::size_t end = std::min(rest.find('/'), rest.size());
    const std::string_view seg = rest.substr(0, end);
    const std::size_t semi = seg.find(';');
    const std::string_view name = seg.substr(0, semi);
    if (semi != std::string_view::npos && (name == "." || name == "..")) {
      return TargetError::DotSegmentParameter;
    }
    out.route_path += '/';
    out.route_path += name;
    rest.remove_prefix(end);
  }
  if (out.route_path.empty()) out.route_path = "/";
  return TargetError::None;
}

}  // namespace

TargetError normalise_target(std::string_view raw, Target& out) {
  if (raw.empty()) return TargetError::Malformed;
  if (already_normal(raw, out)) return finish(out);
  urls::url u;
  if (raw.front() == '/') {
    auto r = urls::parse_origin_form(raw);
    if (!r) return TargetError::Malformed;
    u = *r;
  } else {
    // RFC 9112 §3.2.2: http(s)://authority[/path][?query]. Only the path and query are kept,
    // parsed again as an origin form (no in-place scheme removal).
    auto r = urls::parse_absolute_uri(raw);
    if (!r || (r->scheme() != "http" && r->scheme() != "https") || !r->has_authority()) {
      return TargetError::Malformed;
    }
    std::string origin(r->encoded_path());
    if (origin.empty()) origin = "/";
    if (origin.front() != '/') return TargetError::Malformed;
    if (r->has_query()) {
      origin += '?';
      origin += r->encoded_query();
    }
    auto o = urls::parse_origin_form(origin);
    if (!o) return TargetError::Malformed;
    u = *o;
  }
  if (url::has_encoded_separator(u.encoded_path())) return TargetError::EncodedSeparator;
  out.has_query = u.has_query();
  out.query = std::string(u.encoded_query());
  u.remove_query();
  u.set_encoded_path(url::merge_slashes(u.encoded_path()));
  // normalize_path decodes percent-encoded unreserved characters (so %2E is '.'); the dot
  // segments, including those that decoding revealed, are then removed here.
  u.normalize_path();
  std::string_view p = u.encoded_path();
  if (p.empty() || p.front() != '/') return TargetError::Malformed;
  out.path = url::remove_dot_segments(p);
  return finish(out);
}

}  // namespace portcullis::proxy
