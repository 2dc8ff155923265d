// An http:// or https:// URL of an identity provider (JWKS, discovery, introspection), split for
// the outbound HTTP client, and the host/port check every URL in the config shares (upstreams too).
// One parser for every section that names such a URL.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace boost::urls {
class url_view;
}  // namespace boost::urls

namespace portcullis::url {

struct HttpUrl {
  std::string url;  // as written (or as discovered)
  bool https = false;
  std::string host;         // IP literal (no brackets) or name
  uint16_t port = 80;       // 443 by default for https
  std::string target;       // path and query, at least "/"
  std::string host_header;  // the URL's authority
  bool empty() const { return url.empty(); }
  friend bool operator==(const HttpUrl&, const HttpUrl&) = default;
};

// A URL fit for a message or a log line: its userinfo (user and password) and the value of
// every query parameter replaced by ***. Works on text that is no valid URL too (an '@'
// after the scheme's "://" masks everything up to the last '@').
std::string redact(std::string_view text);

// Parses an absolute http:// or https:// URL. False with `error` set otherwise.
bool parse_http_url(std::string_view text, HttpUrl& out, std::string& error);

// The host (an IP address without brackets, or a name) and port (left as given when the URL
// has none: the caller sets its scheme's default) of a parsed absolute URL, with the checks every
// URL in the config shares: a host is required, percent-encoded hosts are refused, the port
// is 1..65535. False with `error` set otherwise.
bool url_host_port(const boost::urls::url_view& url, std::string& host, uint16_t& port,
                   std::string& error);

}  // namespace portcullis::url
