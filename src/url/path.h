// URL path primitives shared by the config loader and the request path: the one
// implementation of "what a normalised path is", so that a route written in the config and
// the request it is meant for always normalise alike.
#pragma once

#include <string>
#include <string_view>

namespace portcullis::url {

// True when the path holds a percent-encoded '/', '\' or NUL. Requests with one are refused
// (upstreams disagree about what they mean), so a config path with one could never match.
bool has_encoded_separator(std::string_view path);

// Repeated slashes become one ("/a//b" -> "/a/b"), as nginx does before resolving dots.
std::string merge_slashes(std::string_view path);

// RFC 3986 §5.2.4 on whole segments, with empty segments ("//") dropped first, so
// "/a//../b" is "/b" and ".." at the root is a no-op. The result starts with '/' and keeps
// a trailing '/' ("/a/b/.." -> "/a/").
std::string remove_dot_segments(std::string_view path);

// A path as written in the config, normalised the way request paths are: slashes merged,
// dot segments removed, percent-encoding normalised by Boost.URL (unreserved characters
// decoded, hex digits upper-cased) so "/%7Euser" is "/~user". A path that is not a valid URL
// path, or holds an encoded separator, only has its segments resolved; the loader reports it.
std::string normalise_path(std::string_view path);

}  // namespace portcullis::url
