// Path normalisation for config paths and request targets (see path.h).
#include "url/path.h"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <vector>

namespace portcullis::url {

bool has_encoded_separator(std::string_view p) {
  for (std::size_t i = 0; i + 2 < p.size(); ++i) {
    if (p[i] != '%') continue;
    const char a = p[i + 1], b = static_cast<char>(p[i + 2] | 0x20);
    if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0')) return true;
  }
  return false;
}

std::string merge_slashes(std::string_view p) {
  std::string out;
  out.reserve(p.size());
  for (char c : p) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  return out;
}

std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    const bool last = end == path.size();
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      trailing_slash = last;  // "/a/b/.." -> "/a/"
    } else if (seg == ".") {
      trailing_slash = last;
    } else if (seg.empty()) {
      trailing_slash = last && pos > 0;
    } else {
      out.push_back(seg);
      trailing_slash = false;
    }
    pos = end + 1;
  }
  std::string result;
  for (std::string_view seg : out) {
    result += '/';
    result += seg;
  }
  if (result.empty() || trailing_slash) result += '/';
  return result;
}

std::string normalise_path(std::string_view path) {
  std::string p = remove_dot_segments(path);
  // A decoded "%2E" can form a new dot segment, hence the second pass after Boost.URL.
  if (p.find_first_of("?#") != std::string::npos || has_encoded_separator(p)) return p;
  auto parsed = boost::urls::parse_origin_form(p);
  if (!parsed) return p;
  boost::urls::url u(*parsed);
  u.normalize_path();
  return remove_dot_segments(u.encoded_path());
}

}  // namespace portcullis::url
