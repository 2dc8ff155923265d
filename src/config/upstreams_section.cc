// `upstreams`: NAME -> { url, timeouts, pool size, TLS settings for https:// }.
#include <boost/url/parse.hpp>

#include "config/sections.h"
#include "config/syntax.h"
#include "url/http_url.h"

namespace portcullis::config {
namespace {

void read_upstream_url(YamlReader& r, const Entry& e, UpstreamConfig& u) {
  std::string text;
  if (!r.read_nonempty_string(e, text)) return;
  auto fail = [&](const std::string& why) {
    r.error(e.at, "invalid upstream url '" + url::redact(text) + "': " + why);
  };
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return fail(parsed.error().message());
  if (!parsed->has_authority())
    return fail("expected http://HOST[:PORT][/PATH] or https://HOST[:PORT][/PATH]");
  std::string scheme = to_lower(parsed->scheme());
  if (scheme != "http" && scheme != "https") return fail("the scheme must be http or https");
  if (parsed->has_userinfo()) return fail("credentials in the url are not allowed");
  if (parsed->has_query() || parsed->has_fragment()) {
    return fail("a query or fragment is not allowed");
  }
  std::string host, why;
  uint16_t port = scheme == "https" ? 443 : 80;
  if (!url::url_host_port(*parsed, host, port, why)) return fail(why);
  u.url = text;
  u.scheme = scheme;
  u.host = host;
  u.port = port;
  u.host_header = parsed->encoded_authority();
  std::string path(parsed->encoded_path());
  while (path.ends_with('/')) path.pop_back();
  u.base_path = path;
}

void load_upstream(YamlReader& r, const std::string& name, const Entry& e, Config& config) {
  std::string where = "upstream '" + name + "'";
  UpstreamConfig u;
  u.name = name;
  u.mark = e.key_at;
  std::size_t errors_before = r.error_count();
  if (!is_simple_name(name)) {
    r.error(e.key_at,
            "upstream name '" + name + "' may only use letters, digits, '_', '-' and '.'");
  }
  std::vector<Field> fields{
      {"url", [&](const Entry& f) { read_upstream_url(r, f, u); }},
      {"timeout_s", [&](const Entry& f) { r.read_positive_double(f, u.timeout_s); }},
      {"connect_timeout_s",
       [&](const Entry& f) { r.read_positive_double(f, u.connect_timeout_s); }},
      r.uint_field("max_idle_connections", u.max_idle_connections),
      r.uint_field("idle_timeout_s", u.idle_timeout_s, 1)};
  std::map<std::string, Mark> tls_keys;
  add_tls_client_fields(r, TlsClientKeys::Upstream, u.tls, tls_keys, fields);
  auto seen = r.walk_map(e.value, e.at, where, fields);
  r.require(seen, "url", e.at, where);
  // An url with errors leaves the scheme empty: its TLS keys are not judged then.
  if (!u.scheme.empty()) {
    check_tls_client(r, where, u.https(), "an https:// url", tls_keys, u.tls);
  }
  if (r.error_count() == errors_before) config.upstreams[name] = std::move(u);
}

}  // namespace

std::set<std::string> load_upstreams(YamlReader& r, const Entry& e, Config& config) {
  return r.walk_named(
      e, "'upstreams' must be a map of name -> { url: ... }",
      [&](const std::string& name, const Entry& f) { load_upstream(r, name, f, config); });
}

}  // namespace portcullis::config
