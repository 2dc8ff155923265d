// `routes`: match, upstream, auth methods and policy of each route, in file order; a route
// that an earlier one always matches first is reported as never reached, and an earlier
// route that takes any of a later route's requests with weaker authentication is an error
// unless it lists that route in `shadows`.
#include <boost/url/parse.hpp>
#include <map>

#include "config/sections.h"
#include "config/syntax.h"
#include "url/host_pattern.h"
#include "url/path.h"

namespace portcullis::config {
namespace {

// True when `prefix` (normalised, no trailing '/') covers `path` on a segment boundary.
bool segment_prefix(std::string_view prefix, std::string_view path) {
  if (prefix == "/") return true;
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

// True when route `a` matches every request that route `b` matches.
bool shadows(const RouteConfig& a, const RouteConfig& b) {
  if (a.match.host && !(b.match.host && url::host_covers(*a.match.host, *b.match.host))) {
    return false;
  }
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

// True when some request can match both `a` and `b`, as the router matches (proxy/router.cc):
// a host in common (no host: any), a method in common (no methods: any), and paths that
// meet on a segment boundary.
bool overlaps(const RouteMatch& a, const RouteMatch& b) {
  if (a.host && b.host && !url::hosts_overlap(*a.host, *b.host)) return false;
  if (!a.methods.empty() && !b.methods.empty() &&
      std::none_of(a.methods.begin(), a.methods.end(), [&](const std::string& m) {
        return std::find(b.methods.begin(), b.methods.end(), m) != b.methods.end();
      })) {
    return false;
  }
  if (a.path && b.path) return *a.path == *b.path;
  if (a.path) return segment_prefix(*b.path_prefix, *a.path);
  if (b.path) return segment_prefix(*a.path_prefix, *b.path);
  return segment_prefix(*a.path_prefix, *b.path_prefix) ||
         segment_prefix(*b.path_prefix, *a.path_prefix);
}

// One request both routes match, for messages: "GET api.example.com/v1/partner/reports".
std::string shared_request(const RouteMatch& a, const RouteMatch& b) {
  std::string method = "any method";
  if (a.methods.empty() != b.methods.empty()) {
    method = a.methods.empty() ? b.methods.front() : a.methods.front();
  } else if (!a.methods.empty()) {
    for (const auto& m : a.methods) {
      if (std::find(b.methods.begin(), b.methods.end(), m) != b.methods.end()) {
        method = m;
        break;
      }
    }
  }
  // The longer path is the one inside the other.
  const std::string& pa = a.path ? *a.path : *a.path_prefix;
  const std::string& pb = b.path ? *b.path : *b.path_prefix;
  // The narrower host, when both have one ("api.example.com" rather than "*.example.com").
  std::string host = a.host ? *a.host : b.host.value_or("");
  if (a.host && b.host && url::host_covers(*a.host, *b.host)) host = *b.host;
  return method + " " + host + (pa.size() >= pb.size() ? pa : pb);
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

// Why `a` admits a caller that `b` would refuse, or nullopt when every caller `a` admits, `b`
// admits too: `a` has no auth while `b` has, accepts a method `b` does not, or asks less of
// the caller's scopes, roles or client id.
std::optional<std::string> weaker_because(const RouteConfig& a, const RouteConfig& b) {
  if (b.auth_none) return std::nullopt;
  if (a.auth_none) return "auth: none";
  // A shadow route lets through whatever it would refuse.
  if (a.enforcement == Enforcement::Shadow && b.enforcement == Enforcement::Enforce) {
    return "enforcement: shadow";
  }
  for (const auto& m : a.auth) {
    if (std::find(b.auth.begin(), b.auth.end(), m) == b.auth.end()) {
      return "it accepts " + m.str() + ", which '" + b.name + "' does not";
    }
  }
  for (const auto& s : b.require_scopes) {
    if (!contains(a.require_scopes, s)) return "it does not require scope '" + s + "'";
  }
  for (const auto& r : b.require_roles) {
    if (!contains(a.require_roles, r)) return "it does not require role '" + r + "'";
  }
  if (!b.require_any_scope.empty()) {
    const bool by_all = std::any_of(b.require_any_scope.begin(), b.require_any_scope.end(),
                                    [&](const auto& s) { return contains(a.require_scopes, s); });
    const bool by_any =
        !a.require_any_scope.empty() &&
        std::all_of(a.require_any_scope.begin(), a.require_any_scope.end(),
                    [&](const auto& s) { return contains(b.require_any_scope, s); });
    if (!by_all && !by_any) return "it does not require any of the scopes '" + b.name + "' does";
  }
  if (!b.allow_clients.empty()) {
    const bool narrower = !a.allow_clients.empty() &&
                          std::all_of(a.allow_clients.begin(), a.allow_clients.end(),
                                      [&](const auto& c) { return contains(b.allow_clients, c); });
    if (!narrower) return "it admits clients that '" + b.name + "' does not";
  }
  return std::nullopt;
}

// Whether route `a`, placed before `b`, has a wildcard host covering b's more specific one
// (an exact host under it, or a longer wildcard) and takes some of b's requests.
bool wildcard_before_narrower(const RouteConfig& a, const RouteConfig& b) {
  return a.match.host && b.match.host && url::is_wildcard_host(*a.match.host) &&
         *b.match.host != *a.match.host && url::host_covers(*a.match.host, *b.match.host) &&
         overlaps(a.match, b.match);
}

// Routes are tried in file order, so a wildcard host in front of a more specific host would
// take that route's requests: an error, so that an exact host always wins over a wildcard and
// a longer wildcard over a shorter one.
void check_host_order(YamlReader& r, const std::vector<RouteConfig>& routes) {
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RouteConfig& a = routes[i];
    for (std::size_t j = i + 1; j < routes.size(); ++j) {
      const RouteConfig& b = routes[j];
      if (!wildcard_before_narrower(a, b)) continue;
      r.error(a.mark, "route '" + a.name + "' (host " + *a.match.host +
                          ") would take requests such as " + shared_request(a.match, b.match) +
                          " from route '" + b.name + "' (line " + std::to_string(b.mark.line) +
                          ", host " + *b.match.host +
                          "): put the route with the more specific host first");
    }
  }
}

// An earlier route that takes part of a later route's requests with weaker authentication
// turns them into the weaker route's requests: an error unless the earlier route names the
// later one in `shadows`, and then still a warning (a safe default turned off).
void check_weaker_shadowing(YamlReader& r, const std::vector<RouteConfig>& routes,
                            const std::map<std::string, Mark>& names) {
  for (std::size_t i = 0; i < routes.size(); ++i) {
    const RouteConfig& a = routes[i];
    std::vector<bool> used(a.shadows.size(), false);
    for (std::size_t j = i + 1; j < routes.size(); ++j) {
      const RouteConfig& b = routes[j];
      // A wildcard in front of a narrower host is an error of its own (check_host_order).
      if (!overlaps(a.match, b.match) || wildcard_before_narrower(a, b)) continue;
      const auto why = weaker_because(a, b);
      if (!why) continue;
      const std::string what = "route '" + a.name + "' takes requests such as " +
                               shared_request(a.match, b.match) + " from route '" + b.name +
                               "' (line " + std::to_string(b.mark.line) +
                               ") with weaker authentication (" + *why + ")";
      const auto listed = std::find(a.shadows.begin(), a.shadows.end(), b.name);
      if (listed == a.shadows.end()) {
        r.error(a.mark, what + ": put '" + b.name + "' first, narrow the match, or add '" + b.name +
                            "' to this route's 'shadows' if that is intended");
        continue;
      }
      const std::size_t k = static_cast<std::size_t>(listed - a.shadows.begin());
      used[k] = true;
      r.warning(k < a.shadows_marks.size() ? a.shadows_marks[k] : a.mark,
                what + ", as its 'shadows' allows");
    }
    for (std::size_t k = 0; k < a.shadows.size(); ++k) {
      // Unknown names were refused when the route was read; a known route that loaded with
      // errors cannot be judged.
      const bool judged = std::any_of(routes.begin(), routes.end(),
                                      [&](const RouteConfig& x) { return x.name == a.shadows[k]; });
      if (used[k] || !judged || !names.count(a.shadows[k])) continue;
      r.warning(k < a.shadows_marks.size() ? a.shadows_marks[k] : a.mark,
                "route '" + a.name + "' lists '" + a.shadows[k] +
                    "' in 'shadows' but takes none of its requests with weaker authentication");
    }
  }
}

// `enforcement: enforce | shadow`; anything else is refused with a did-you-mean.
void read_enforcement(YamlReader& r, const Entry& f, RouteConfig& route) {
  static constexpr EnumName<Enforcement> kModes[] = {{Enforcement::Enforce, "enforce"},
                                                     {Enforcement::Shadow, "shadow"}};
  route.enforcement_at = f.at;
  r.read_enum(f, kModes, route.enforcement, "'enforcement' must be enforce or shadow, not '{}'");
}

// A shadow route lets unauthenticated requests through: every one is a warning, so `check`
// and each start or reload name them. With auth: none and no rate limit there is nothing to
// shadow.
void check_shadow_mode(YamlReader& r, const RouteConfig& route, bool auth_given) {
  if (route.enforcement != Enforcement::Shadow) return;
  if (auth_given && route.auth_none && route.rate_limits.empty()) {
    r.error(route.enforcement_at,
            "'enforcement: shadow' has nothing to shadow: the route has auth: none and no "
            "rate_limits");
    return;
  }
  r.warning(
      route.enforcement_at,
      "route '" + route.name +
          "' is in shadow mode (enforcement: shadow): requests it would refuse (401, 403, "
          "429, an unavailable identity provider) are forwarded to its upstream without identity");
}

// Whether an auth method names a configured mechanism; the error message when it does not.
// Each section that adds a mechanism (api_keys, jwt_providers, oauth2_providers) adds its
// lookup here.
std::optional<std::string> auth_method_unavailable(const Config& config, const AuthMethod& method) {
  switch (method.kind) {
    case AuthKind::ApiKey:
      // api_keys is set as soon as the section is present, even with errors in it, so that a
      // broken section is reported once and not again at every route that uses it.
      if (config.api_keys) return std::nullopt;
      return "auth method 'api_key' is not available (no api_keys configured)";
    case AuthKind::OAuth2:
      return oauth2_method_unavailable(config, method);
    case AuthKind::ClientCert:
      return client_cert_method_unavailable(config);
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

// The one place where an auth method's written form is read: "api_key", "jwt:NAME",
// "oauth2:NAME" (NAME a simple name) or "client_cert". Nullopt for anything else.
std::optional<AuthMethod> parse_auth_method(std::string_view m) {
  if (m == "api_key") return AuthMethod{AuthKind::ApiKey, {}};
  if (m == "client_cert") return AuthMethod{AuthKind::ClientCert, {}};
  for (auto [prefix, kind] : {std::pair{std::string_view("jwt:"), AuthKind::Jwt},
                              std::pair{std::string_view("oauth2:"), AuthKind::OAuth2}}) {
    if (m.starts_with(prefix) && is_simple_name(m.substr(prefix.size()))) {
      return AuthMethod{kind, std::string(m.substr(prefix.size()))};
    }
  }
  return std::nullopt;
}

// For the query parameters that may carry a credential.
std::function<std::string(const std::string&)> plain_query_param(const std::string& key) {
  return [key](const std::string& name) {
    return is_plain_query_param(name)
               ? std::string()
               : "'" + key + "' may only use letters, digits, '-', '.', '_' and '~'";
  };
}

bool load_match(YamlReader& r, const Entry& e, const std::string& route, RouteMatch& m) {
  std::size_t errors_before = r.error_count();
  std::string where = route + " match";
  auto path_field = [&](std::string_view key, std::optional<std::string>& target, bool prefix) {
    return Field{key, [&, prefix](const Entry& f) {
                   std::string p;
                   if (!r.read_nonempty_string(f, p)) return;
                   if (!valid_config_path(r, f, p)) return;
                   p = url::normalise_path(p);
                   if (prefix && p.size() > 1 && p.ends_with('/')) p.pop_back();
                   target = p;
                 }};
  };
  auto seen = r.walk_map(
      e.value, e.at, where,
      {path_field("path", m.path, false),
       path_field("path_prefix", m.path_prefix, true),
       {"methods",
        [&](const Entry& f) {
          if (!r.read_string_list(f, m.methods, [](const std::string& s) {
                return is_token(s) ? std::string() : "'" + s + "' is not a valid HTTP method";
              })) {
            return;
          }
          for (auto& method : m.methods) method = to_upper(method);
        }},
       {"host", [&](const Entry& f) {
          std::string h;
          if (!r.read_nonempty_string(f, h)) return;
          auto parsed = boost::urls::parse_authority(h);
          if (!parsed || parsed->has_userinfo() || parsed->encoded_host().empty() ||
              parsed->encoded_host().find('%') != boost::urls::string_view::npos) {
            r.error(f.at, "invalid host '" + h + "': expected a host name such as api.example.com");
            return;
          }
          // The Host header's port is not part of the match.
          m.host = to_lower(parsed->encoded_host());
          if (m.host->find('*') != std::string::npos) {
            if (auto problem = url::wildcard_host_problem(*m.host); !problem.empty()) {
              r.error(f.at, "invalid host '" + h + "': " + problem);
            }
          }
        }}});
  if (e.value.IsMap() && seen.count("path") == seen.count("path_prefix")) {
    r.error(e.at, where + " needs exactly one of 'path' or 'path_prefix'");
  }
  return r.error_count() == errors_before && e.value.IsMap();
}

// `auth: none` or a non-empty list of methods, each of which must exist.
bool read_auth(YamlReader& r, const Entry& e, const Config& config, RouteConfig& route) {
  if (e.value.IsScalar() && e.value.Scalar() == "none") {
    route.auth_none = true;
    return true;
  }
  if (!e.value.IsSequence() || e.value.size() == 0) {
    r.error(e.at, "'auth' must be none or a list of methods, e.g. [api_key, jwt:NAME]");
    return false;
  }
  bool ok = true;
  std::vector<AuthMethod> methods;
  for (const auto& item : e.value) {
    Mark at = mark_of(item.Mark());
    std::string text = item.IsScalar() ? item.Scalar() : std::string();
    auto m = parse_auth_method(text);
    if (!m) {
      r.error(at, "unknown auth method '" + text +
                      "': expected api_key, jwt:NAME, oauth2:NAME or client_cert");
      ok = false;
      continue;
    }
    if (std::find(methods.begin(), methods.end(), *m) != methods.end()) {
      r.error(at, "auth method '" + text + "' is listed twice");
      ok = false;
    } else if (auto problem = auth_method_unavailable(config, *m)) {
      r.error(at, *problem);
      ok = false;
    }
    methods.push_back(std::move(*m));
  }
  if (ok) route.auth = std::move(methods);
  return ok;
}

void load_route(YamlReader& r, const YAML::Node& node, std::size_t index,
                std::map<std::string, Mark>& names, const std::set<std::string>& declared_upstreams,
                Config& config) {
  Mark at = mark_of(node.Mark());
  RouteConfig route;
  route.mark = at;
  std::size_t errors_before = r.error_count();
  // Name the route in messages as soon as possible; fall back to its position.
  std::string where = "routes[" + std::to_string(index) + "]";
  if (node.IsMap()) {
    // A missing key yields an undefined node, which throws on any other query.
    const YAML::Node name = node["name"];
    if (name.IsDefined() && name.IsScalar() && !name.Scalar().empty()) {
      where = "route '" + name.Scalar() + "'";
    }
  }
  if (!r.expect_map(node, at, where + " must be a map with name, match, upstream and auth")) return;

  Mark require_at, strip_at, query_param_at, jwt_param_at;
  bool auth_given = false, match_ok = false;
  auto list = [&](std::string_view key, std::vector<std::string>& target, bool no_spaces) {
    return Field{key, [&, no_spaces](const Entry& f) {
                   r.read_string_list(f, target, [&, no_spaces](const std::string& s) {
                     return no_spaces && has_space_or_control(s)
                                ? "'" + s + "' must not contain spaces"
                                : std::string();
                   });
                   if (!target.empty() && require_at.line == 0) require_at = f.at;
                 }};
  };
  auto seen = r.walk_map(
      node, at, where,
      {{"name",
        [&](const Entry& f) {
          if (!r.read_nonempty_string(f, route.name)) return;
          if (!is_simple_name(route.name)) {
            r.error(f.at, "route name '" + route.name +
                              "' may only use letters, digits, '_', '-' and '.'");
          }
          auto [it, inserted] = names.emplace(route.name, f.at);
          if (!inserted) {
            r.error(f.at, "duplicate route name '" + route.name + "' (first used at line " +
                              std::to_string(it->second.line) + ")");
          }
        }},
       {"match", [&](const Entry& f) { match_ok = load_match(r, f, where, route.match); }},
       {"upstream",
        [&](const Entry& f) {
          if (!r.read_nonempty_string(f, route.upstream)) return;
          if (!declared_upstreams.count(route.upstream)) {
            r.error(f.at, "upstream '" + route.upstream + "' is not defined in upstreams");
          }
        }},
       {"auth", [&](const Entry& f) { auth_given = read_auth(r, f, config, route); }},
       list("require_scopes", route.require_scopes, true),
       list("require_any_scope", route.require_any_scope, true),
       list("require_roles", route.require_roles, true),
       list("allow_clients", route.allow_clients, false),
       {"forward_authorization",
        [&](const Entry& f) { r.read_bool(f, route.forward_authorization); }},
       {"api_key_query_param",
        [&](const Entry& f) {
          std::string name;
          if (!r.read_nonempty_string(f, name)) return;
          if (!is_plain_query_param(name)) {
            r.error(f.at,
                    "'api_key_query_param' may only use letters, digits, '-', '.', '_' "
                    "and '~'");
            return;
          }
          route.api_key_query_param = name;
          query_param_at = f.at;
        }},
       {"jwt_query_param",
        [&](const Entry& f) {
          std::string name;
          if (!r.read_nonempty_string(f, name, plain_query_param(f.key))) return;
          route.jwt_query_param = name;
          jwt_param_at = f.at;
        }},
       {"shadows",
        [&](const Entry& f) { r.read_string_list(f, route.shadows, route.shadows_marks); }},
       {"enforcement", [&](const Entry& f) { read_enforcement(r, f, route); }},
       {"rate_limits",
        [&](const Entry& f) { r.read_string_list(f, route.rate_limits, route.rate_limits_marks); }},
       {"strip_prefix", [&](const Entry& f) {
          std::string p;
          if (!r.read_nonempty_string(f, p)) return;
          if (!valid_config_path(r, f, p)) return;
          p = url::normalise_path(p);
          if (p.size() > 1 && p.ends_with('/')) p.pop_back();
          route.strip_prefix = p;
          strip_at = f.at;
        }}});

  r.require(seen, "name", at, where);
  if (r.require(seen, "match", at, where) && match_ok && route.strip_prefix) {
    // A strip_prefix that is not a prefix of every matched path would never apply.
    const std::string& p = route.match.path ? *route.match.path : *route.match.path_prefix;
    if (!segment_prefix(*route.strip_prefix, p)) {
      r.error(strip_at, "'strip_prefix' " + *route.strip_prefix +
                            " is not a prefix of the route's " +
                            (route.match.path ? "path " : "path_prefix ") + p);
    }
  }
  r.require(seen, "upstream", at, where);
  if (r.require(seen, "auth", at, where) && auth_given && route.auth_none &&
      (!route.require_scopes.empty() || !route.require_any_scope.empty() ||
       !route.require_roles.empty() || !route.allow_clients.empty())) {
    r.error(require_at,
            "require_scopes, require_any_scope, require_roles and allow_clients need an "
            "authenticated caller, but the route has auth: none");
  }
  if (route.api_key_query_param && auth_given && !route.has_auth(AuthKind::ApiKey)) {
    r.error(query_param_at, "'api_key_query_param' needs api_key in the route's auth");
  }
  if (route.jwt_query_param && auth_given && !route.has_auth(AuthKind::Jwt)) {
    r.error(jwt_param_at, "'jwt_query_param' needs a jwt:NAME method in the route's auth");
  }
  check_shadow_mode(r, route, auth_given);
  if (r.error_count() == errors_before) config.routes.push_back(std::move(route));
}

}  // namespace

// A path as written in a route: absolute, no query or fragment, valid in a URL, and
// able to match a request at all.
bool valid_config_path(YamlReader& r, const Entry& e, const std::string& p) {
  if (!p.starts_with('/')) {
    r.error(e.at, "'" + e.key + "' must start with '/'");
  } else if (p.find_first_of("?#") != std::string::npos || has_space_or_control(p) ||
             !boost::urls::parse_origin_form(p)) {
    r.error(e.at, "'" + e.key + "' must be a plain URL path: no '?', '#' or spaces, and " +
                      "other special characters percent-encoded");
  } else if (url::has_encoded_separator(p)) {
    r.error(e.at, "'" + e.key + "' must not contain %2F, %5C or %00: requests with them " +
                      "are refused, so the route could never match");
  } else {
    return true;
  }
  return false;
}

void load_routes(YamlReader& r, const Entry& e, const std::set<std::string>& declared_upstreams,
                 Config& config) {
  if (e.value.IsNull()) return;
  if (!e.value.IsSequence()) {
    r.error(e.at, "'routes' must be a list of routes");
    return;
  }
  std::map<std::string, Mark> names;
  std::size_t index = 0;
  for (const auto& item : e.value) {
    load_route(r, item, index++, names, declared_upstreams, config);
  }
  // Every name in `shadows` must be a route of the file.
  for (const auto& route : config.routes) {
    for (std::size_t k = 0; k < route.shadows.size(); ++k) {
      if (names.count(route.shadows[k])) continue;
      std::vector<std::string_view> known;
      for (const auto& [name, at] : names) known.push_back(name);
      const auto near = closest_key(route.shadows[k], known);
      r.error(k < route.shadows_marks.size() ? route.shadows_marks[k] : route.mark,
              "'shadows' names no route '" + route.shadows[k] + "'" +
                  (near.empty() ? std::string() : " (did you mean '" + std::string(near) + "'?)"));
    }
  }
  // Shadowing is only judged between routes that loaded cleanly.
  check_host_order(r, config.routes);
  check_weaker_shadowing(r, config.routes, names);
  const auto& routes = config.routes;
  for (std::size_t j = 1; j < routes.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      if (!shadows(routes[i], routes[j])) continue;
      r.warning(routes[j].mark, "route '" + routes[j].name + "' is never reached: route '" +
                                    routes[i].name + "' (line " +
                                    std::to_string(routes[i].mark.line) + ") matches first");
      break;
    }
  }
}

}  // namespace portcullis::config
