// `identity.signed_context`: the header, issuer, algorithm, signing keys (PEM private keys
// through secret references) and how tokens are cached. Shapes only: whether each key loads
// and suits the algorithm is judged by identity/context_signer.h (check_signed_context), at
// the marks kept here.
#include <algorithm>
#include <set>

#include "config/sections.h"
#include "config/syntax.h"
#include "url/path.h"

namespace portcullis::config {
namespace {

constexpr std::string_view kWhere = "identity.signed_context";
constexpr EnumName<ContextAlg> kAlgorithms[] = {{ContextAlg::EdDSA, "EdDSA"},
                                                {ContextAlg::ES256, "ES256"}};

void load_key(YamlReader& r, const YAML::Node& node, std::size_t index, SignedContextConfig& sc) {
  const std::string where = std::string(kWhere) + ".keys[" + std::to_string(index) + "]";
  ContextKeyConfig key;
  key.at = mark_of(node);
  auto seen = r.walk_map(
      node, key.at, where,
      {{"kid", [&](const Entry& f) { r.read_nonempty_string(f, key.kid); }},
       {"key_file", [&](const Entry& f) {
          if (!r.read_nonempty_string(f, key.key_file)) return;
          key.at = f.at;
          r.read_secret(f, key.key_file, {"key_file", "private key", where + ".key_file"}, key.pem);
        }}});
  r.require(seen, "kid", mark_of(node), where);
  r.require(seen, "key_file", mark_of(node), where);
  if (key.kid.size() > 256 || has_space_or_control(key.kid)) {
    r.error(key.at, where + ": kid must be at most 256 characters without spaces");
  }
  sc.keys.push_back(std::move(key));
}

void load_keys(YamlReader& r, const Entry& e, SignedContextConfig& sc) {
  if (!e.value.IsSequence() || e.value.size() == 0) {
    r.error(e.at, "'keys' must be a non-empty list of { key_file, kid } (the first signs)");
    return;
  }
  std::set<std::string> kids;
  std::size_t index = 0;
  for (const auto& item : e.value) {
    if (!item.IsMap()) {
      r.error(mark_of(item), std::string(kWhere) + ".keys[" + std::to_string(index) +
                                 "] must be a map { key_file, kid }");
    } else {
      load_key(r, item, index, sc);
      const auto& kid = sc.keys.back().kid;
      if (!kid.empty() && !kids.insert(kid).second) {
        r.error(mark_of(item), "kid '" + kid + "' is used by two keys of " + std::string(kWhere));
      }
    }
    ++index;
  }
}

// The token's header must not be one the gateway already writes (or strips as identity).
void check_header(YamlReader& r, Mark at, const IdentityConfig& identity,
                  const std::string& header) {
  if (const auto why = reserved_header(header); !why.empty()) {
    r.error(at, "identity.signed_context.header '" + header + "' " + std::string(why));
    return;
  }
  const auto& h = identity.headers;
  for (const auto* other : {&h.user_id, &h.client_id, &h.scopes, &h.roles, &h.auth_method,
                            &h.request_id, &h.cert_thumbprint}) {
    if (!other->empty() && header_key(*other) == header_key(header)) {
      r.error(at, "identity.signed_context.header '" + header +
                      "' is already an identity header (" + *other + ")");
      return;
    }
  }
}

}  // namespace

void load_signed_context(YamlReader& r, const Entry& e, IdentityConfig& identity) {
  SignedContextConfig sc;
  sc.mark = e.at;
  if (!r.expect_map(e.value, e.at, "'signed_context' must be a map with issuer and keys")) return;
  Mark header_at = e.at;
  auto seen =
      r.walk_map(e.value, e.at, std::string(kWhere),
                 {{"header",
                   [&](const Entry& f) {
                     if (r.read_header_name(f, sc.header)) header_at = f.at;
                   }},
                  {"issuer", [&](const Entry& f) { r.read_nonempty_string(f, sc.issuer); }},
                  r.enum_field("algorithm", kAlgorithms, sc.algorithm,
                               "algorithm '{}' cannot sign the identity context: EdDSA or ES256"),
                  {"keys", [&](const Entry& f) { load_keys(r, f, sc); }},
                  r.uint_field("ttl_s", sc.ttl_s, 2, 86400),
                  {"per_request", [&](const Entry& f) { r.read_bool(f, sc.per_request); }},
                  {"anonymous", [&](const Entry& f) { r.read_bool(f, sc.anonymous); }},
                  r.uint_field("cache_entries", sc.cache_entries, 16, 10000000),
                  {"jwks_route", [&](const Entry& f) {
                     std::string p;
                     if (!r.read_nonempty_string(f, p) || !valid_config_path(r, f, p)) return;
                     sc.jwks_route = url::normalise_path(p);
                     sc.jwks_route_at = f.at;
                   }}});
  r.require(seen, "issuer", e.at, std::string(kWhere));
  r.require(seen, "keys", e.at, std::string(kWhere));
  check_header(r, header_at, identity, sc.header);
  identity.signed_context = std::move(sc);
}

void check_jwks_route(YamlReader& r, const Config& config) {
  const auto& sc = config.identity.signed_context;
  if (!sc || !sc->jwks_route) return;
  const std::string& jwks = *sc->jwks_route;
  for (const auto& route : config.routes) {
    if (!route.match.methods.empty() &&
        std::find(route.match.methods.begin(), route.match.methods.end(), "GET") ==
            route.match.methods.end()) {
      continue;
    }
    // The path a route names itself (its exact path, or the root of its prefix), not one that
    // merely falls under a prefix: a catch-all route around a JWKS at its own path is the
    // usual set-up.
    const auto& m = route.match;
    if ((m.path && *m.path == jwks) || (m.path_prefix && *m.path_prefix == jwks)) {
      r.warning(sc->jwks_route_at,
                "identity.signed_context.jwks_route '" + jwks +
                    "' is answered with the public keys before routing: a GET for it never "
                    "reaches route '" +
                    route.name + "'");
    }
  }
}

}  // namespace portcullis::config
