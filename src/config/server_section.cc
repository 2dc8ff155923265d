// `server` and `admin`: the listeners, worker count, limits and timeouts (`server.tls` is read
// by listener_tls_section.cc).
#include <boost/url/parse.hpp>
#include <charconv>

#include "config/sections.h"
#include "config/syntax.h"

namespace portcullis::config {
namespace {

// Parses a decimal port; `min` is 0 for listeners (the OS picks).
bool parse_port(std::string_view text, unsigned min, uint16_t& out) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (value < min || value > 65535) return false;
  out = static_cast<uint16_t>(value);
  return true;
}

// "HOST:PORT", "[V6]:PORT" or ":PORT" (host keeps its default).
bool read_listen(YamlReader& r, const Entry& e, ListenAddress& out) {
  static constexpr const char* kForms = "expected HOST:PORT, [IPV6]:PORT or :PORT";
  if (!e.value.IsScalar()) {
    // An unquoted [::1]:8080 is a YAML list; say how to write it.
    r.error(e.at, std::string("'") + e.key + "' must be a string: " + kForms +
                      " (quote IPv6 addresses: \"[::1]:8080\")");
    return false;
  }
  const std::string& s = e.value.Scalar();
  auto parsed = boost::urls::parse_authority(s);
  if (!parsed || parsed->has_userinfo() || !parsed->has_port()) {
    r.error(e.at, "invalid listen address '" + s + "': " + kForms);
    return false;
  }
  ListenAddress addr = out;
  switch (parsed->host_type()) {
    case boost::urls::host_type::ipv4:
    case boost::urls::host_type::ipv6:
      addr.host = parsed->host_address();
      break;
    case boost::urls::host_type::name:
      if (parsed->encoded_host().empty()) break;  // ":PORT"
      if (to_lower(parsed->encoded_host()) == "localhost") {
        addr.host = "localhost";
        break;
      }
      [[fallthrough]];
    default:
      r.error(e.at,
              "invalid listen address '" + s + "': the host must be an IP address or 'localhost'");
      return false;
  }
  if (!parse_port(parsed->port(), 0, addr.port)) {
    r.error(e.at, "invalid listen address '" + s + "': the port must be 0..65535");
    return false;
  }
  out = addr;
  return true;
}

// A list of CIDR blocks (a bare address is a /32 or /128), each refused at its own position.
// A block holding every address is allowed, with a warning: it makes every client's
// X-Forwarded-For the truth.
void read_trusted_proxies(YamlReader& r, const Entry& e, std::vector<ip::Cidr>& out) {
  std::vector<ip::Cidr> blocks;
  auto check = [&blocks](const std::string& item) {
    ip::Cidr c;
    std::string why;
    if (!ip::parse_cidr(item, c, why)) return "trusted_proxies: " + why;
    blocks.push_back(c);
    return std::string();
  };
  std::vector<std::string> items;
  if (!r.read_string_list(e, items, check)) return;
  // Every IPv4 peer is seen as ::ffff:a.b.c.d: a block of 96 bits or fewer holding that
  // range (0.0.0.0/0, ::ffff:0:0/96, ::/0, ::/64 ...) trusts them all.
  ip::IpBytes v4_any{};
  v4_any[10] = v4_any[11] = 0xff;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (blocks[i].bits == 0 || (blocks[i].bits <= 96 && ip::contains(blocks[i], v4_any))) {
      r.warning(mark_of(e.value[i]), "trusted_proxies: '" + items[i] +
                                         "' trusts every peer: any client can choose the "
                                         "address the gateway sees");
    }
  }
  out = std::move(blocks);
}

}  // namespace

std::string ListenAddress::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

void check_listeners(YamlReader& r, const Config& config, Mark server_at, Mark admin_at) {
  const auto& admin = config.admin;
  const auto& server = config.server;
  auto canonical = [](const std::string& h) { return h == "localhost" ? "127.0.0.1" : h; };
  std::string a = canonical(admin.listen.host), b = canonical(server.listen.host);
  bool v4 = a.find(':') == std::string::npos && b.find(':') == std::string::npos;
  // "::" is dual-stack on Linux, so it takes the port on every address.
  bool same_host = a == b || a == "::" || b == "::" || (v4 && (a == "0.0.0.0" || b == "0.0.0.0"));
  if (admin.enabled && admin.listen.port != 0 && admin.listen.port == server.listen.port &&
      same_host) {
    r.error(admin_at.line ? admin_at : server_at, "admin listen address " + admin.listen.str() +
                                                      " clashes with server.listen " +
                                                      server.listen.str());
  }
}

void load_server(YamlReader& r, const Entry& e, Config& config, Mark& listen_at) {
  auto& s = config.server;
  r.walk_map(
      e.value, e.at, "server",
      {{"listen",
        [&](const Entry& f) {
          listen_at = f.at;
          read_listen(r, f, s.listen);
        }},
       r.uint_field("workers", s.workers, 0, 256),
       r.uint_field("max_header_bytes", s.max_header_bytes, 1),
       r.uint_field("max_body_bytes", s.max_body_bytes),
       r.uint_field("header_timeout_s", s.header_timeout_s, 1),
       r.uint_field("idle_timeout_s", s.idle_timeout_s, 1),
       r.uint_field("body_timeout_s", s.body_timeout_s, 1),
       r.uint_field("drain_delay_s", s.drain_delay_s, 0, 3600),
       r.uint_field("drain_timeout_s", s.drain_timeout_s),
       r.uint_field("max_connections", s.max_connections, 1),
       {"trusted_proxies", [&](const Entry& f) { read_trusted_proxies(r, f, s.trusted_proxies); }},
       {"proxy_protocol", [&](const Entry& f) { r.read_bool(f, s.proxy_protocol); }},
       {"tls", [&](const Entry& f) { load_listener_tls(r, f, s); }}});
}

void load_admin(YamlReader& r, const Entry& e, Config& config, Mark& listen_at) {
  auto& a = config.admin;
  r.walk_map(e.value, e.at, "admin",
             {{"enabled", [&](const Entry& f) { r.read_bool(f, a.enabled); }},
              {"listen", [&](const Entry& f) {
                 listen_at = f.at;
                 read_listen(r, f, a.listen);
               }}});
}

}  // namespace portcullis::config
