// The config loader: YAML text -> validated Config. Every problem found is collected as a
// Diagnostic pointing at the offending node, so one `portcullis check` run shows them all.
#include "config/loader.h"
#include "config/jwt_section.h"
#include "config/oauth2_section.h"
#include "config/http_url.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <system_error>

namespace portcullis::config {

std::string Diagnostic::str() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message;
}

std::string ListenAddress::str() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

namespace {

// RFC 3986 §5.2.4 on whole segments, with empty segments ("//") dropped first, as the
// request path normaliser merges slashes before resolving dots (so "/a//../b" is "/b").
// Working on segments makes ".." at the root a no-op, as the RFC requires.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(pos, end - pos);
    bool last = end == path.size();
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

// A percent-encoded '/', '\\' or NUL: request paths with one are refused, so a config path
// with one could never match.
bool has_encoded_separator(std::string_view p) {
  for (std::size_t i = 0; i + 2 < p.size(); ++i) {
    if (p[i] != '%') continue;
    const char a = p[i + 1], b = static_cast<char>(p[i + 2] | 0x20);
    if ((a == '2' && b == 'f') || (a == '5' && b == 'c') || (a == '0' && b == '0')) return true;
  }
  return false;
}

Mark to_mark(const YAML::Mark& m) {
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

std::string to_lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string to_upper(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return r;
}

// RFC 9110 §5.6.2 token: header names and methods.
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
    if (!ok || c == '\0') return false;
  }
  return true;
}

bool has_space_or_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

// Names appear in logs and metric labels, so keep them to a boring alphabet.
bool is_simple_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Parses a decimal port; `min` is 0 for listeners (the OS picks) and 1 for upstreams.
bool parse_port(std::string_view text, unsigned min, uint16_t& out) {
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) return false;
  if (value < min || value > 65535) return false;
  out = static_cast<uint16_t>(value);
  return true;
}

// True when `prefix` (normalised, no trailing '/') covers `path` on a segment boundary.
bool segment_prefix(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return true;
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// True when route `a` matches every request that route `b` matches.
bool shadows(const RouteConfig& a, const RouteConfig& b) {
  if (a.match.host && a.match.host != b.match.host) return false;
  if (!a.match.methods.empty()) {
    if (b.match.methods.empty()) return false;
    for (const auto& m : b.match.methods) {
      if (std::find(a.match.methods.begin(), a.match.methods.end(), m) == a.match.methods.end()) {
        return false;
      }
    }
  }
  if (a.match.path_prefix) {
    return segment_prefix(*a.match.path_prefix,
                          b.match.path ? *b.match.path : b.match.path_prefix.value_or(""));
  }
  return a.match.path && b.match.path && *a.match.path == *b.match.path;
}

// Whether a syntactically valid auth method names a configured mechanism; the error
// message when it does not. Each section that adds a mechanism (api_keys, jwt_providers,
// oauth2_providers) adds its lookup here.
std::optional<std::string> auth_method_unavailable(const Config& config,
                                                   const AuthMethod& method) {
  switch (method.kind) {
    case AuthKind::ApiKey:
      // api_keys is set as soon as the section is present, even with errors in it, so that a
      // broken section is reported once and not again at every route that uses it.
      if (config.api_keys) return std::nullopt;
      return "auth method 'api_key' is not available (no api_keys configured)";
    case AuthKind::OAuth2:
      return oauth2_method_unavailable(config, method);
    case AuthKind::Jwt:
      if (config.jwt_providers.empty()) {
        return "auth method '" + method.str() + "' is not available (no jwt_providers configured)";
      }
      if (config.jwt_providers.count(method.provider)) return std::nullopt;
      return "auth method '" + method.str() + "': no jwt provider '" + method.provider +
             "' is defined in jwt_providers";
  }
  return std::nullopt;
}

// The one place where an auth method's written form is read: "api_key", "jwt:NAME" or
// "oauth2:NAME" (NAME a simple name). Nullopt for anything else.
std::optional<AuthMethod> parse_auth_method(std::string_view m) {
  if (m == "api_key") return AuthMethod{AuthKind::ApiKey, {}};
  for (auto [prefix, kind] : {std::pair{std::string_view("jwt:"), AuthKind::Jwt},
                              std::pair{std::string_view("oauth2:"), AuthKind::OAuth2}}) {
    if (m.starts_with(prefix) && is_simple_name(m.substr(prefix.size()))) {
      return AuthMethod{kind, std::string(m.substr(prefix.size()))};
    }
  }
  return std::nullopt;
}

class Loader {
 public:
  Loader(std::string file, std::string base_dir, std::string source_path)
      : file_(std::move(file)),
        base_dir_(std::move(base_dir)),
        source_path_(std::move(source_path)) {}

  LoadResult load(std::string_view yaml) {
    LoadResult result;
    auto config = std::make_shared<Config>();
    config->source_path = source_path_;
    config_ = config.get();
    try {
      std::vector<YAML::Node> docs = YAML::LoadAll(std::string(yaml));
      if (docs.size() > 1) {
        error(to_mark(docs[1].Mark()),
              "the file holds more than one YAML document; put everything in one");
      }
      load_root(docs.empty() ? YAML::Node() : docs[0]);
    } catch (const YAML::Exception& e) {
      // ParserException (syntax) and anything else yaml-cpp throws carry a position.
      error(to_mark(e.mark), e.msg);
    } catch (const std::exception& e) {
      error({}, std::string("internal error while loading: ") + e.what());
    }

    auto by_position = [](const Diagnostic& a, const Diagnostic& b) {
      return std::tie(a.line, a.col) < std::tie(b.line, b.col);
    };
    std::stable_sort(errors_.begin(), errors_.end(), by_position);
    std::stable_sort(warnings_.begin(), warnings_.end(), by_position);
    result.errors = std::move(errors_);
    result.warnings = std::move(warnings_);
    if (result.errors.empty()) result.config = std::move(config);
    return result;
  }

 private:
  // A map entry. `at` is where to report problems with the value: yaml-cpp gives an empty
  // value the position of whatever follows it, so those are reported at the key.
  struct Entry {
    std::string key;
    YAML::Node value;
    Mark at;
    Mark key_at;
  };
  struct Field {
    std::string_view key;
    std::function<void(const Entry&)> handle;
  };

  void error(Mark m, std::string message) {
    errors_.push_back({file_, m.line, m.col, std::move(message)});
  }
  void warning(Mark m, std::string message) {
    warnings_.push_back({file_, m.line, m.col, std::move(message)});
  }

  static Entry entry_of(const YAML::Node& key, const YAML::Node& value) {
    return {key.IsScalar() ? key.Scalar() : std::string(), value,
            to_mark(value.IsNull() ? key.Mark() : value.Mark()), to_mark(key.Mark())};
  }

  // Walks a map, handing each known key to its field and reporting unknown, duplicate and
  // non-string keys. A null node (`admin:` with nothing after it) counts as an empty map.
  // Returns the keys present.
  std::set<std::string> walk_map(const YAML::Node& node, Mark at, const std::string& where,
                                 const std::vector<Field>& fields) {
    std::set<std::string> seen;
    if (node.IsNull()) return seen;
    if (!node.IsMap()) {
      error(at, where + " must be a map");
      return seen;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
      // A copy: it->first is a proxy that dies with the statement.
      const YAML::Node key = it->first;
      Mark key_at = to_mark(key.Mark());
      if (!key.IsScalar()) {
        error(key_at, "keys must be plain strings in " + where);
        continue;
      }
      const std::string& name = key.Scalar();
      auto field =
          std::find_if(fields.begin(), fields.end(), [&](const Field& f) { return f.key == name; });
      if (field == fields.end()) {
        std::string message = "unknown key '" + name + "' in " + where;
        // Suggest the closest known key for likely typos ("lisen" -> "listen").
        std::string_view best;
        std::size_t best_distance = 3;
        for (const auto& f : fields) {
          std::size_t d = edit_distance(to_lower(name), f.key);
          if (d < best_distance) {
            best_distance = d;
            best = f.key;
          }
        }
        if (!best.empty()) message += " (did you mean '" + std::string(best) + "'?)";
        error(key_at, message);
        continue;
      }
      if (!seen.insert(name).second) {
        error(key_at, "duplicate key '" + name + "' in " + where);
        continue;
      }
      field->handle(entry_of(key, it->second));
    }
    return seen;
  }

  bool require(const std::set<std::string>& seen, std::string_view key, Mark at,
               const std::string& where) {
    if (seen.count(std::string(key))) return true;
    error(at, "missing required key '" + std::string(key) + "' in " + where);
    return false;
  }

  // ---- Typed values. Each reports its own error and returns false, leaving `out` as is.

  bool read_string(const Entry& e, std::string& out) {
    if (!e.value.IsScalar()) {
      error(e.at, "'" + e.key + "' must be a string");
      return false;
    }
    out = e.value.Scalar();
    return true;
  }

  bool read_nonempty_string(const Entry& e, std::string& out) {
    std::string s;
    if (!read_string(e, s)) return false;
    if (s.empty()) {
      error(e.at, "'" + e.key + "' must not be empty");
      return false;
    }
    out = std::move(s);
    return true;
  }

  template <typename T>
  bool read_uint(const Entry& e, T& out, uint64_t min = 0,
                 uint64_t max = std::numeric_limits<T>::max()) {
    uint64_t value = 0;
    const std::string& s = e.value.IsScalar() ? e.value.Scalar() : std::string();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (!e.value.IsScalar() || s.empty() || ec == std::errc::invalid_argument ||
        ptr != s.data() + s.size()) {
      error(e.at, "'" + e.key + "' must be a whole number >= " + std::to_string(min));
      return false;
    }
    if (ec == std::errc::result_out_of_range || value < min || value > max) {
      error(e.at, "'" + e.key + "' must be between " + std::to_string(min) + " and " +
                      std::to_string(max));
      return false;
    }
    out = static_cast<T>(value);
    return true;
  }

  bool read_positive_double(const Entry& e, double& out) {
    double value = 0;
    const std::string& s = e.value.IsScalar() ? e.value.Scalar() : std::string();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (!e.value.IsScalar() || s.empty() || ec != std::errc() || ptr != s.data() + s.size() ||
        !std::isfinite(value) || value <= 0) {
      error(e.at, "'" + e.key + "' must be a number of seconds greater than 0");
      return false;
    }
    out = value;
    return true;
  }

  bool read_bool(const Entry& e, bool& out) {
    // Only true/false: YAML 1.1's yes/no/on/off are surprising in a security config.
    std::string s = e.value.IsScalar() ? to_lower(e.value.Scalar()) : std::string();
    if (s != "true" && s != "false") {
      error(e.at, "'" + e.key + "' must be true or false");
      return false;
    }
    out = s == "true";
    return true;
  }

  // A list of non-empty strings; `check` may reject an item with a message.
  bool read_string_list(const Entry& e, std::vector<std::string>& out,
                        const std::function<std::string(const std::string&)>& check = {}) {
    if (!e.value.IsSequence()) {
      error(e.at, "'" + e.key + "' must be a list, e.g. [a, b]");
      return false;
    }
    std::vector<std::string> items;
    bool ok = true;
    for (const auto& item : e.value) {
      Mark at = to_mark(item.Mark());
      if (!item.IsScalar() || item.Scalar().empty()) {
        // `[jwt: x]` is a map to YAML; the usual cause is a space after a colon.
        error(at, "items of '" + e.key + "' must be non-empty strings");
        ok = false;
        continue;
      }
      if (check) {
        std::string problem = check(item.Scalar());
        if (!problem.empty()) {
          error(at, problem);
          ok = false;
          continue;
        }
      }
      items.push_back(item.Scalar());
    }
    if (ok) out = std::move(items);
    return ok;
  }

  bool read_header_name(const Entry& e, std::string& out) {
    std::string s;
    if (!read_string(e, s)) return false;
    if (!is_token(s)) {
      error(e.at, "'" + s + "' is not a valid HTTP header name");
      return false;
    }
    out = std::move(s);
    return true;
  }

  // "HOST:PORT", "[V6]:PORT" or ":PORT" (host keeps its default).
  bool read_listen(const Entry& e, ListenAddress& out) {
    static constexpr const char* kForms = "expected HOST:PORT, [IPV6]:PORT or :PORT";
    if (!e.value.IsScalar()) {
      // An unquoted [::1]:8080 is a YAML list; say how to write it.
      error(e.at, std::string("'") + e.key + "' must be a string: " + kForms +
                      " (quote IPv6 addresses: \"[::1]:8080\")");
      return false;
    }
    const std::string& s = e.value.Scalar();
    auto parsed = boost::urls::parse_authority(s);
    if (!parsed || parsed->has_userinfo() || !parsed->has_port()) {
      error(e.at, "invalid listen address '" + s + "': " + kForms);
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
        error(e.at,
              "invalid listen address '" + s + "': the host must be an IP address or 'localhost'");
        return false;
    }
    if (!parse_port(parsed->port(), 0, addr.port)) {
      error(e.at, "invalid listen address '" + s + "': the port must be 0..65535");
      return false;
    }
    out = addr;
    return true;
  }

  // A path as written in a route: absolute, no query or fragment, valid in a URL, and
  // able to match a request at all.
  bool valid_config_path(const Entry& e, const std::string& p) {
    if (!p.starts_with('/')) {
      error(e.at, "'" + e.key + "' must start with '/'");
    } else if (p.find_first_of("?#") != std::string::npos || has_space_or_control(p) ||
               !boost::urls::parse_origin_form(p)) {
      error(e.at, "'" + e.key + "' must be a plain URL path: no '?', '#' or spaces, and " +
                      "other special characters percent-encoded");
    } else if (has_encoded_separator(p)) {
      error(e.at, "'" + e.key + "' must not contain %2F, %5C or %00: requests with them " +
                      "are refused, so the route could never match");
    } else {
      return true;
    }
    return false;
  }

  std::string resolve_path(const std::string& path) const {
    std::filesystem::path p(path);
    if (p.is_relative()) p = std::filesystem::path(base_dir_) / p;
    return p.lexically_normal().string();
  }

  // ---- Sections.

  void load_root(const YAML::Node& root) {
    if (!root.IsNull() && !root.IsMap()) {
      error(to_mark(root.Mark()), "the config must be a map of sections (server, routes, ...)");
      return;
    }
    // Sections are stashed, then loaded in dependency order: routes refer to upstreams
    // wherever they appear in the file.
    std::map<std::string, Entry> sections;
    auto stash = [&](const Entry& e) { sections[e.key] = e; };
    walk_map(root, to_mark(root.Mark()), "the top level",
             {{"server", stash},
              {"admin", stash},
              {"upstreams", stash},
              {"identity", stash},
              {"api_keys", stash},
              {"oauth2_providers", stash},
              {"jwt_providers", stash},
              {"routes", stash},
              {"log", stash}});
    if (sections.count("server")) load_server(sections["server"]);
    if (sections.count("admin")) load_admin(sections["admin"]);
    if (sections.count("upstreams")) load_upstreams(sections["upstreams"]);
    if (sections.count("identity")) load_identity(sections["identity"]);
    if (sections.count("api_keys")) load_api_keys(sections["api_keys"]);
    if (sections.count("oauth2_providers")) {
      const Entry& o = sections["oauth2_providers"];
      load_oauth2_section(o.value, o.at, base_dir_, *config_,
                          [this](Mark m, std::string s) { error(m, std::move(s)); });
    }
    if (sections.count("jwt_providers")) load_jwt_section(sections["jwt_providers"]);
    if (sections.count("routes")) {
      load_routes(sections["routes"]);
    }
    if (config_->routes.empty() && errors_.empty()) {
      warning(to_mark(root.Mark()), "no routes are configured: every request will get 404");
    }
    if (sections.count("log")) load_log(sections["log"]);

    // Two listeners on one port fail at bind time; say so now, where the file is checked.
    const auto& admin = config_->admin;
    const auto& server = config_->server;
    auto canonical = [](const std::string& h) { return h == "localhost" ? "127.0.0.1" : h; };
    std::string a = canonical(admin.listen.host), b = canonical(server.listen.host);
    bool v4 = a.find(':') == std::string::npos && b.find(':') == std::string::npos;
    // "::" is dual-stack on Linux, so it takes the port on every address.
    bool same_host = a == b || a == "::" || b == "::" || (v4 && (a == "0.0.0.0" || b == "0.0.0.0"));
    if (admin.enabled && admin.listen.port != 0 && admin.listen.port == server.listen.port &&
        same_host) {
      error(admin_listen_at_.line ? admin_listen_at_ : server_listen_at_,
            "admin listen address " + admin.listen.str() + " clashes with server.listen " +
                server.listen.str());
    }
  }

  void load_server(const Entry& e) {
    auto& s = config_->server;
    walk_map(e.value, e.at, "server",
             {{"listen",
               [&](const Entry& f) {
                 server_listen_at_ = f.at;
                 read_listen(f, s.listen);
               }},
              {"workers", [&](const Entry& f) { read_uint(f, s.workers, 0, 256); }},
              {"max_header_bytes", [&](const Entry& f) { read_uint(f, s.max_header_bytes, 1); }},
              {"max_body_bytes", [&](const Entry& f) { read_uint(f, s.max_body_bytes); }},
              {"header_timeout_s", [&](const Entry& f) { read_uint(f, s.header_timeout_s, 1); }},
              {"idle_timeout_s", [&](const Entry& f) { read_uint(f, s.idle_timeout_s, 1); }},
              {"body_timeout_s", [&](const Entry& f) { read_uint(f, s.body_timeout_s, 1); }},
              {"drain_timeout_s", [&](const Entry& f) { read_uint(f, s.drain_timeout_s); }},
              {"max_connections", [&](const Entry& f) { read_uint(f, s.max_connections, 1); }}});
  }

  void load_admin(const Entry& e) {
    auto& a = config_->admin;
    walk_map(e.value, e.at, "admin",
             {{"enabled", [&](const Entry& f) { read_bool(f, a.enabled); }},
              {"listen", [&](const Entry& f) {
                 admin_listen_at_ = f.at;
                 read_listen(f, a.listen);
               }}});
  }

  void load_upstreams(const Entry& e) {
    if (e.value.IsNull()) return;
    if (!e.value.IsMap()) {
      error(e.at, "'upstreams' must be a map of name -> { url: ... }");
      return;
    }
    // Every key is an upstream name, so the field list is built from the map itself.
    std::vector<std::string> names;
    for (auto it = e.value.begin(); it != e.value.end(); ++it) {
      if (it->first.IsScalar()) names.push_back(it->first.Scalar());
    }
    std::vector<Field> fields;
    for (const auto& name : names) {
      fields.push_back({name, [this, name](const Entry& f) { load_upstream(name, f); }});
    }
    walk_map(e.value, e.at, "upstreams", fields);
  }

  void load_upstream(const std::string& name, const Entry& e) {
    declared_upstreams_.insert(name);
    std::string where = "upstream '" + name + "'";
    UpstreamConfig u;
    u.name = name;
    u.mark = e.key_at;
    std::size_t errors_before = errors_.size();
    if (!is_simple_name(name)) {
      error(e.key_at,
            "upstream name '" + name + "' may only use letters, digits, '_', '-' and '.'");
    }
    auto seen = walk_map(
        e.value, e.at, where,
        {{"url", [&](const Entry& f) { read_upstream_url(f, u); }},
         {"timeout_s", [&](const Entry& f) { read_positive_double(f, u.timeout_s); }},
         {"connect_timeout_s",
          [&](const Entry& f) { read_positive_double(f, u.connect_timeout_s); }},
         {"max_idle_connections", [&](const Entry& f) { read_uint(f, u.max_idle_connections); }},
         {"idle_timeout_s", [&](const Entry& f) { read_uint(f, u.idle_timeout_s, 1); }}});
    require(seen, "url", e.at, where);
    if (errors_.size() == errors_before) config_->upstreams[name] = std::move(u);
  }

  void read_upstream_url(const Entry& e, UpstreamConfig& u) {
    std::string url;
    if (!read_nonempty_string(e, url)) return;
    auto fail = [&](const std::string& why) {
      error(e.at, "invalid upstream url '" + url + "': " + why);
    };
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed) return fail(parsed.error().message());
    if (!parsed->has_authority()) return fail("expected http://HOST[:PORT][/PATH]");
    std::string scheme = to_lower(parsed->scheme());
    if (scheme == "https") {
      error(e.at, "https upstreams are not supported yet");
      return;
    }
    if (scheme != "http") return fail("the scheme must be http");
    if (parsed->has_userinfo()) return fail("credentials in the url are not allowed");
    if (parsed->has_query() || parsed->has_fragment()) {
      return fail("a query or fragment is not allowed");
    }
    std::string host, why;
    uint16_t port = 80;
    if (!url_host_port(*parsed, host, port, why)) return fail(why);
    u.url = url;
    u.scheme = scheme;
    u.host = host;
    u.port = port;
    u.host_header = parsed->encoded_authority();
    std::string path(parsed->encoded_path());
    while (path.ends_with('/')) path.pop_back();
    u.base_path = path;
  }

  void load_identity(const Entry& e) {
    auto& id = config_->identity;
    // Where each header was set, for the distinctness check; defaults have no position.
    std::vector<std::pair<std::string, Mark>> set_at;
    auto header = [&](std::string_view key, std::string& target) {
      return Field{key, [&, key](const Entry& f) {
                     if (read_header_name(f, target)) set_at.emplace_back(std::string(key), f.at);
                   }};
    };
    walk_map(
        e.value, e.at, "identity",
        {{"headers",
          [&](const Entry& h) {
            auto& hs = id.headers;
            walk_map(h.value, h.at, "identity.headers",
                     {header("user_id", hs.user_id), header("client_id", hs.client_id),
                      header("scopes", hs.scopes), header("roles", hs.roles),
                      header("auth_method", hs.auth_method), header("request_id", hs.request_id)});
            const std::vector<std::pair<std::string, const std::string*>> all = {
                {"user_id", &hs.user_id},         {"client_id", &hs.client_id},
                {"scopes", &hs.scopes},           {"roles", &hs.roles},
                {"auth_method", &hs.auth_method}, {"request_id", &hs.request_id}};
            auto mark_of = [&](const std::string& key) {
              for (const auto& [k, m] : set_at) {
                if (k == key) return m;
              }
              return Mark{};
            };
            for (std::size_t i = 0; i < all.size(); ++i) {
              for (std::size_t j = i + 1; j < all.size(); ++j) {
                if (to_lower(*all[i].second) != to_lower(*all[j].second)) continue;
                Mark at = mark_of(all[j].first);
                if (at.line == 0) at = mark_of(all[i].first);
                error(at, "identity header '" + *all[j].second + "' is used for both " +
                              all[i].first + " and " + all[j].first);
              }
            }
          }},
         {"strip_inbound", [&](const Entry& f) {
            read_string_list(f, id.strip_inbound, [](const std::string& s) {
              return is_token(s) ? std::string() : "'" + s + "' is not a valid HTTP header name";
            });
          }}});
  }

  void load_routes(const Entry& e) {
    if (e.value.IsNull()) return;
    if (!e.value.IsSequence()) {
      error(e.at, "'routes' must be a list of routes");
      return;
    }
    std::map<std::string, Mark> names;
    std::size_t index = 0;
    for (const auto& item : e.value) {
      load_route(item, index++, names);
    }
    // Shadowing is only judged between routes that loaded cleanly.
    const auto& routes = config_->routes;
    for (std::size_t j = 1; j < routes.size(); ++j) {
      for (std::size_t i = 0; i < j; ++i) {
        if (!shadows(routes[i], routes[j])) continue;
        warning(routes[j].mark, "route '" + routes[j].name + "' is never reached: route '" +
                                    routes[i].name + "' (line " +
                                    std::to_string(routes[i].mark.line) + ") matches first");
        break;
      }
    }
  }

  void load_route(const YAML::Node& node, std::size_t index, std::map<std::string, Mark>& names) {
    Mark at = to_mark(node.Mark());
    RouteConfig r;
    r.mark = at;
    std::size_t errors_before = errors_.size();
    // Name the route in messages as soon as possible; fall back to its position.
    std::string where = "routes[" + std::to_string(index) + "]";
    if (node.IsMap()) {
      // A missing key yields an undefined node, which throws on any other query.
      const YAML::Node name = node["name"];
      if (name.IsDefined() && name.IsScalar() && !name.Scalar().empty()) {
        where = "route '" + name.Scalar() + "'";
      }
    }
    if (!node.IsMap()) {
      error(at, where + " must be a map with name, match, upstream and auth");
      return;
    }

    Mark require_at, strip_at, query_param_at, jwt_param_at;
    bool auth_given = false, match_ok = false;
    auto list = [&](std::string_view key, std::vector<std::string>& target, bool no_spaces) {
      return Field{key, [&, no_spaces](const Entry& f) {
                     read_string_list(f, target, [&, no_spaces](const std::string& s) {
                       return no_spaces && has_space_or_control(s)
                                  ? "'" + s + "' must not contain spaces"
                                  : std::string();
                     });
                     if (!target.empty() && require_at.line == 0) require_at = f.at;
                   }};
    };
    auto seen = walk_map(
        node, at, where,
        {{"name",
          [&](const Entry& f) {
            if (!read_nonempty_string(f, r.name)) return;
            if (!is_simple_name(r.name)) {
              error(f.at,
                    "route name '" + r.name + "' may only use letters, digits, '_', '-' and '.'");
            }
            auto [it, inserted] = names.emplace(r.name, f.at);
            if (!inserted) {
              error(f.at, "duplicate route name '" + r.name + "' (first used at line " +
                              std::to_string(it->second.line) + ")");
            }
          }},
         {"match", [&](const Entry& f) { match_ok = load_match(f, where, r.match); }},
         {"upstream",
          [&](const Entry& f) {
            if (!read_nonempty_string(f, r.upstream)) return;
            if (!declared_upstreams_.count(r.upstream)) {
              error(f.at, "upstream '" + r.upstream + "' is not defined in upstreams");
            }
          }},
         {"auth", [&](const Entry& f) { auth_given = read_auth(f, r); }},
         list("require_scopes", r.require_scopes, true),
         list("require_any_scope", r.require_any_scope, true),
         list("require_roles", r.require_roles, true),
         list("allow_clients", r.allow_clients, false),
         {"forward_authorization", [&](const Entry& f) { read_bool(f, r.forward_authorization); }},
         {"api_key_query_param",
          [&](const Entry& f) {
            std::string name;
            if (!read_nonempty_string(f, name)) return;
            // Unreserved characters only: the name is matched after percent-decoding, and
            // a plain name reads the same in the config, the URL and the access log.
            bool plain = std::all_of(name.begin(), name.end(), [](char c) {
              return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '.' || c == '_' || c == '~';
            });
            if (!plain) {
              error(f.at, "'api_key_query_param' may only use letters, digits, '-', '.', '_' "
                          "and '~'");
              return;
            }
            r.api_key_query_param = name;
            query_param_at = f.at;
          }},
         {"jwt_query_param",
          [&](const Entry& f) {
            std::string name;
            if (!read_nonempty_string(f, name)) return;
            if (std::string problem = check_jwt_query_param(name); !problem.empty()) {
              error(f.at, problem);
              return;
            }
            r.jwt_query_param = name;
            jwt_param_at = f.at;
          }},
         {"strip_prefix", [&](const Entry& f) {
            std::string p;
            if (!read_nonempty_string(f, p)) return;
            if (!valid_config_path(f, p)) return;
            p = normalise_config_path(p);
            if (p.size() > 1 && p.ends_with('/')) p.pop_back();
            r.strip_prefix = p;
            strip_at = f.at;
          }}});

    require(seen, "name", at, where);
    if (require(seen, "match", at, where) && match_ok && r.strip_prefix) {
      // A strip_prefix that is not a prefix of every matched path would never apply.
      const std::string& p = r.match.path ? *r.match.path : *r.match.path_prefix;
      if (!segment_prefix(*r.strip_prefix, p)) {
        error(strip_at, "'strip_prefix' " + *r.strip_prefix + " is not a prefix of the route's " +
                            (r.match.path ? "path " : "path_prefix ") + p);
      }
    }
    require(seen, "upstream", at, where);
    if (require(seen, "auth", at, where) && auth_given && r.auth_none &&
        (!r.require_scopes.empty() || !r.require_any_scope.empty() || !r.require_roles.empty() ||
         !r.allow_clients.empty())) {
      error(require_at,
            "require_scopes, require_any_scope, require_roles and allow_clients need an "
            "authenticated caller, but the route has auth: none");
    }
    if (r.api_key_query_param && auth_given && !r.has_auth(AuthKind::ApiKey)) {
      error(query_param_at, "'api_key_query_param' needs api_key in the route's auth");
    }
    if (r.jwt_query_param && auth_given && !r.has_auth(AuthKind::Jwt)) {
      error(jwt_param_at, "'jwt_query_param' needs a jwt:NAME method in the route's auth");
    }
    if (errors_.size() == errors_before) config_->routes.push_back(std::move(r));
  }

  bool load_match(const Entry& e, const std::string& route, RouteMatch& m) {
    std::size_t errors_before = errors_.size();
    std::string where = route + " match";
    auto path_field = [&](std::string_view key, std::optional<std::string>& target, bool prefix) {
      return Field{key, [&, prefix](const Entry& f) {
                     std::string p;
                     if (!read_nonempty_string(f, p)) return;
                     if (!valid_config_path(f, p)) return;
                     p = normalise_config_path(p);
                     if (prefix && p.size() > 1 && p.ends_with('/')) p.pop_back();
                     target = p;
                   }};
    };
    auto seen = walk_map(
        e.value, e.at, where,
        {path_field("path", m.path, false),
         path_field("path_prefix", m.path_prefix, true),
         {"methods",
          [&](const Entry& f) {
            if (!read_string_list(f, m.methods, [](const std::string& s) {
                  return is_token(s) ? std::string() : "'" + s + "' is not a valid HTTP method";
                })) {
              return;
            }
            for (auto& method : m.methods) method = to_upper(method);
          }},
         {"host", [&](const Entry& f) {
            std::string h;
            if (!read_nonempty_string(f, h)) return;
            auto parsed = boost::urls::parse_authority(h);
            if (!parsed || parsed->has_userinfo() || parsed->encoded_host().empty() ||
                parsed->encoded_host().find('%') != boost::urls::string_view::npos) {
              error(f.at, "invalid host '" + h + "': expected a host name such as api.example.com");
              return;
            }
            // The Host header's port is not part of the match.
            m.host = to_lower(parsed->encoded_host());
          }}});
    if (e.value.IsMap() && seen.count("path") == seen.count("path_prefix")) {
      error(e.at, where + " needs exactly one of 'path' or 'path_prefix'");
    }
    return errors_.size() == errors_before && e.value.IsMap();
  }

  // `auth: none` or a non-empty list of methods, each of which must exist.
  bool read_auth(const Entry& e, RouteConfig& r) {
    if (e.value.IsScalar() && e.value.Scalar() == "none") {
      r.auth_none = true;
      return true;
    }
    if (!e.value.IsSequence() || e.value.size() == 0) {
      error(e.at, "'auth' must be none or a list of methods, e.g. [api_key, jwt:NAME]");
      return false;
    }
    bool ok = true;
    std::vector<AuthMethod> methods;
    for (const auto& item : e.value) {
      Mark at = to_mark(item.Mark());
      std::string text = item.IsScalar() ? item.Scalar() : std::string();
      auto m = parse_auth_method(text);
      if (!m) {
        error(at, "unknown auth method '" + text + "': expected api_key, jwt:NAME or oauth2:NAME");
        ok = false;
        continue;
      }
      if (std::find(methods.begin(), methods.end(), *m) != methods.end()) {
        error(at, "auth method '" + text + "' is listed twice");
        ok = false;
      } else if (auto problem = auth_method_unavailable(*config_, *m)) {
        error(at, *problem);
        ok = false;
      }
      methods.push_back(std::move(*m));
    }
    if (ok) r.auth = std::move(methods);
    return ok;
  }

  // jwt_providers lives in config/jwt_section.cc.
  void load_jwt_section(const Entry& e) {
    JwtSectionContext ctx;
    ctx.base_dir = base_dir_;
    ctx.identity = &config_->identity;
    ctx.error = [this](int line, int col, const std::string& m) { error({line, col}, m); };
    ctx.warning = [this](int line, int col, const std::string& m) { warning({line, col}, m); };
    load_jwt_providers(e.value, e.at.line, e.at.col, ctx, config_->jwt_providers);
  }

  void load_api_keys(const Entry& e) {
    // Present from here on, even with errors: routes naming api_key are not reported again.
    auto& k = config_->api_keys.emplace();
    k.mark = e.key_at;
    auto seen = walk_map(
        e.value, e.at, "api_keys",
        {{"header",
          [&](const Entry& f) {
            std::string h;
            if (!read_header_name(f, h)) return;
            std::string lower = to_lower(h);
            if (lower == "authorization") {
              error(f.at, "api_keys.header cannot be Authorization: 'Authorization: ApiKey "
                          "<key>' is always accepted");
              return;
            }
            // The sanitizer removes identity headers before authentication runs, so a key
            // sent in one of them would never be seen.
            const auto& ids = config_->identity.headers;
            for (const std::string* name : {&ids.user_id, &ids.client_id, &ids.scopes, &ids.roles,
                                             &ids.auth_method, &ids.request_id}) {
              if (to_lower(*name) == lower) {
                error(f.at, "api_keys.header '" + h + "' is an identity header");
                return;
              }
            }
            for (const auto& name : config_->identity.strip_inbound) {
              if (to_lower(name) == lower) {
                error(f.at, "api_keys.header '" + h + "' is listed in identity.strip_inbound");
                return;
              }
            }
            k.header = h;
          }},
         {"store",
          [&](const Entry& f) {
            std::string url;
            if (!read_nonempty_string(f, url)) return;
            KeyStoreLocation loc;
            std::string why;
            if (!parse_key_store_url(url, base_dir_, loc, why)) {
              error(f.at, "invalid api_keys.store '" + url + "': " + why);
              return;
            }
            k.store = url;
            k.store_path = loc.path;
          }},
         {"pepper",
          [&](const Entry& f) {
            std::string text;
            if (!read_string(f, text)) return;
            if (text.empty()) {
              error(f.at, "api_keys.pepper must not be empty: use ${ENV_NAME} or file:/path");
              return;
            }
            SecretRef ref = parse_secret_ref(text);
            if (ref.kind == SecretRef::Kind::Literal) {
              error(f.at, "api_keys.pepper must be a reference, ${ENV_NAME} or file:/path, "
                          "not the pepper itself");
              return;
            }
            std::string why;
            if (!resolve_secret(ref, text, base_dir_, k.pepper, why)) {
              error(f.at, "api_keys.pepper: " + why);
              return;
            }
            if (k.pepper.reveal().size() < 16) {
              error(f.at, "api_keys.pepper is " + std::to_string(k.pepper.reveal().size()) +
                              " bytes; use at least 16 random bytes (e.g. openssl rand "
                              "-base64 32)");
              k.pepper = Secret();
            }
          }},
         {"poll_interval_ms",
          [&](const Entry& f) { read_uint(f, k.poll_interval_ms, 100, 60000); }}});
    if (e.value.IsMap() || e.value.IsNull()) {
      require(seen, "store", e.at, "api_keys");
      require(seen, "pepper", e.at, "api_keys");
    }
  }

  void load_log(const Entry& e) {
    auto& log = config_->log;
    walk_map(e.value, e.at, "log",
             {{"level",
               [&](const Entry& f) {
                 std::string level;
                 if (!read_string(f, level)) return;
                 static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn",
                                                               "error"};
                 if (!kLevels.count(level)) {
                   error(f.at, "log level '" + level +
                                   "' must be one of trace, debug, info, warn, error");
                   return;
                 }
                 log.level = level;
               }},
              {"access",
               [&](const Entry& f) {
                 std::string access;
                 if (!read_nonempty_string(f, access)) return;
                 bool special = access == "stdout" || access == "stderr" || access == "off";
                 log.access = special ? access : resolve_path(access);
               }},
              {"redact_query_params",
               [&](const Entry& f) { read_string_list(f, log.redact_query_params); }}});
  }

  std::string file_;
  std::string base_dir_;
  std::string source_path_;
  Config* config_ = nullptr;
  std::vector<Diagnostic> errors_;
  std::vector<Diagnostic> warnings_;
  std::set<std::string> declared_upstreams_;  // including ones with errors, to avoid noise
  Mark server_listen_at_, admin_listen_at_;
};

// Reads the whole file; on failure returns false with errno's text in `error`.
bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    error = std::strerror(errno);
    return false;
  }
  char buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) out.append(buf, n);
  // A directory opens fine on Linux and only fails here, with EISDIR.
  if (std::ferror(f.get())) {
    error = std::strerror(errno);
    return false;
  }
  return true;
}

// Never throws: allocation failure or a bug still becomes a diagnostic.
LoadResult load_or_report(std::string_view yaml, const std::string& name,
                          const std::string& base_dir, const std::string& source_path) {
  try {
    return Loader(name, base_dir, source_path).load(yaml);
  } catch (const std::exception& e) {
    LoadResult result;
    result.errors.push_back({name, 0, 0, std::string("internal error while loading: ") + e.what()});
    return result;
  }
}

}  // namespace

bool parse_key_store_url(std::string_view url, const std::string& base_dir,
                         KeyStoreLocation& out, std::string& error) {
  static constexpr const char* kForms =
      "expected sqlite:///absolute/path.db or sqlite:relative/path.db";
  auto parsed = boost::urls::parse_uri(url);
  if (!parsed) {
    error = kForms;
    return false;
  }
  std::string scheme = to_lower(parsed->scheme());
  if (scheme != "sqlite") {
    error = "unsupported key store '" + scheme + "' (only sqlite is supported); " + kForms;
    return false;
  }
  if (parsed->has_authority() && !parsed->encoded_authority().empty()) {
    error = "a sqlite store is a file, not a host: " + std::string(kForms);
    return false;
  }
  if (parsed->has_query() || parsed->has_fragment()) {
    error = "a query or fragment is not allowed";
    return false;
  }
  std::string path = parsed->path();  // percent-decoded
  if (path.empty() || path == "/") {
    error = "a file path is required: " + std::string(kForms);
    return false;
  }
  if (path.find('\0') != std::string::npos) {
    error = "the path contains NUL";
    return false;
  }
  std::filesystem::path p(path);
  if (p.is_relative()) p = std::filesystem::path(base_dir) / p;
  out.kind = "sqlite";
  out.path = p.lexically_normal().string();
  return true;
}

std::string normalise_config_path(std::string_view path) {
  std::string p = remove_dot_segments(path);
  // Percent-encoding goes through the same Boost.URL routine as request paths (unreserved
  // characters decoded, hex digits upper-cased), so "/%7Euser" matches a request for
  // "/~user". A decoded "%2E" can form a new dot segment, hence the second pass. Paths
  // that are not valid URL paths are left as they are; the loader reports them.
  if (p.find_first_of("?#") != std::string::npos || has_encoded_separator(p)) return p;
  auto parsed = boost::urls::parse_origin_form(p);
  if (!parsed) return p;
  boost::urls::url u(*parsed);
  u.normalize_path();
  return remove_dot_segments(u.encoded_path());
}

LoadResult load_config_string(std::string_view yaml, const std::string& name,
                              const std::string& base_dir) {
  return load_or_report(yaml, name, base_dir, name);
}

LoadResult load_config_file(const std::string& path) {
  std::string text, why;
  if (!read_file(path, text, why)) {
    LoadResult result;
    result.errors.push_back({path, 0, 0, "cannot read: " + why});
    return result;
  }
  // Absolute, so that a reload after a chdir still finds the file and its neighbours.
  std::string source_path, base_dir;
  try {
    std::filesystem::path abs = std::filesystem::absolute(path).lexically_normal();
    source_path = abs.string();
    base_dir = abs.parent_path().string();
  } catch (const std::exception&) {
    source_path = path;
    base_dir = ".";
  }
  return load_or_report(text, path, base_dir, source_path);
}

}  // namespace portcullis::config
