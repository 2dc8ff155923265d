// `routes`: match, upstream, auth methods and policy of each route, in file order; a route
// that an earlier one always matches first is reported as never reached.
#include <boost/url/parse.hpp>
#include <map>

#include "config/sections.h"
#include "config/syntax.h"
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

// Whether an auth method names a configured mechanism; the error message when it does not.
// Each section that adds a mechanism (api_keys, jwt_providers, oauth2_providers) adds its
// lookup here.
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

// For the query parameters that may carry a credential.
std::function<std::string(const std::string&)> plain_query_param(const std::string& key) {
  return [key](const std::string& name) {
    return is_plain_query_param(name)
               ? std::string()
               : "'" + key + "' may only use letters, digits, '-', '.', '_' and '~'";
  };
}

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
      r.error(at, "unknown auth method '" + text + "': expected api_key, jwt:NAME or oauth2:NAME");
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
  if (!node.IsMap()) {
    r.error(at, where + " must be a map with name, match, upstream and auth");
    return;
  }

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
  if (r.error_count() == errors_before) config.routes.push_back(std::move(route));
}

}  // namespace

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
  // Shadowing is only judged between routes that loaded cleanly.
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
