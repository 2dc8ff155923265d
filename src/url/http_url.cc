// Parsing of identity-provider URLs with Boost.URL (see http_url.h).
#include "url/http_url.h"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>

namespace portcullis::url {

std::string redact(std::string_view text) {
  static constexpr std::string_view kMask = "***";
  std::string out(text);
  const std::size_t scheme_end = out.find("://");
  const std::size_t from = scheme_end == std::string::npos ? 0 : scheme_end + 3;
  if (const std::size_t at = out.rfind('@'); at != std::string::npos && at >= from) {
    out.replace(from, at - from, kMask);
  }
  const std::size_t q = out.find('?', from);
  if (q == std::string::npos) return out;
  std::size_t end = out.find('#', q);
  if (end == std::string::npos) end = out.size();
  std::string query;
  std::string_view rest(out.data() + q + 1, end - q - 1);
  for (;;) {
    const std::size_t amp = rest.find('&');
    const std::string_view param = rest.substr(0, amp);
    const std::size_t eq = param.find('=');
    query += param.substr(0, eq);
    if (eq != std::string_view::npos) {
      query += '=';
      if (eq + 1 < param.size()) query += kMask;
    }
    if (amp == std::string_view::npos) break;
    query += '&';
    rest.remove_prefix(amp + 1);
  }
  out.replace(q + 1, end - q - 1, query);
  return out;
}

bool parse_http_url(std::string_view text, HttpUrl& out, std::string& error) {
  auto parsed = boost::urls::parse_uri(text);
  static constexpr const char* kForm =
      "expected http://HOST[:PORT]/PATH or https://HOST[:PORT]/PATH";
  if (!parsed) {
    error = kForm;
    return false;
  }
  const bool https = parsed->scheme_id() == boost::urls::scheme::https;
  if ((!https && parsed->scheme_id() != boost::urls::scheme::http) || !parsed->has_authority()) {
    error = kForm;
    return false;
  }
  if (parsed->has_userinfo()) {
    error = "credentials in the url are not allowed";
    return false;
  }
  if (parsed->has_fragment()) {
    error = "a fragment is not allowed";
    return false;
  }
  std::string host;
  uint16_t port = https ? 443 : 80;
  if (!url_host_port(*parsed, host, port, error)) return false;
  HttpUrl u;
  u.url = std::string(text);
  u.https = https;
  u.host = host;
  u.port = port;
  u.host_header = parsed->encoded_authority();
  // Built by appends into an empty string: assigning a literal over the path, or
  // `target += "?" + std::string(query)`, trips GCC 12's -Wrestrict in Release builds (a
  // false positive inside libstdc++), and appending also skips the temporaries.
  const std::string_view path = parsed->encoded_path();
  u.target.append(path.empty() ? std::string_view("/") : path);
  if (parsed->has_query()) {
    u.target.push_back('?');
    u.target.append(std::string_view(parsed->encoded_query()));
  }
  out = std::move(u);
  return true;
}

bool url_host_port(const boost::urls::url_view& url, std::string& host, uint16_t& port,
                   std::string& error) {
  switch (url.host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      host = url.host_address();
      break;
    case boost::urls::host_type::name:
      host = url.encoded_host();
      break;
    default:
      error = "unsupported host";
      return false;
  }
  if (host.empty() || host.find('%') != std::string::npos) {
    error = host.empty() ? "a host is required" : "percent-encoded hosts are not allowed";
    return false;
  }
  if (url.has_port()) {
    std::string_view p = url.port();
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || value < 1 ||
        value > 65535) {
      error = "the port must be 1..65535";
      return false;
    }
    port = static_cast<uint16_t>(value);
  }
  return true;
}

}  // namespace portcullis::url
