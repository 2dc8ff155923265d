// `oauth2_providers`: NAME -> { introspection_endpoint | discovery, client_id, client_secret,
// auth_method, issuer, audiences, timeout_ms, cache_s, negative_cache_s, cache_entries,
// scopes_claim, roles_claim, rate_limit_claim, breaker_failures, breaker_open_s, gates_readiness,
// require_cert_binding, ca_file, tls_verify }.
#include <algorithm>

#include "config/sections.h"
#include "config/syntax.h"
#include "url/http_url.h"

namespace portcullis::config {
namespace {

constexpr EnumName<ClientAuthMethod> kAuthMethods[] = {
    {ClientAuthMethod::ClientSecretBasic, "client_secret_basic"},
    {ClientAuthMethod::ClientSecretPost, "client_secret_post"}};

// A claim name or dotted path: "scope", "realm_access.roles"; "https://x/roles" is not one.
bool claim_path(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

void load_provider(YamlReader& r, const std::string& name, const Entry& e,
                   OAuth2ProviderConfig& p) {
  const std::string where = "oauth2 provider '" + name + "'";
  p.name = name;
  p.line = e.key_at.line;
  p.col = e.key_at.col;
  if (!is_simple_name(name)) {
    r.error(e.key_at,
            "oauth2 provider name '" + name + "' may only use letters, digits, '_', '-' and '.'");
  }
  if (!r.expect_map(e.value, e.at,
                    where + " must be a map, e.g. { introspection_endpoint: http://..., "
                            "client_id: ..., client_secret: ${SECRET} }")) {
    return;
  }
  auto url = [&](std::string_view key, HttpUrl& out) {
    return Field{key, [&](const Entry& f) {
                   std::string text, why;
                   if (!r.read_nonempty_string(f, text)) return;
                   if (!parse_http_url(text, out, why)) {
                     r.error(f.at, "invalid " + f.key + " '" + url::redact(text) + "': " + why);
                   }
                 }};
  };
  auto claim = [&](std::string_view key, std::string& target) {
    return Field{key, [&](const Entry& f) {
                   r.read_nonempty_string(f, target, [&](const std::string& v) {
                     return claim_path(v) ? std::string()
                                          : "'" + f.key +
                                                "' must be a claim name or a dotted path such as "
                                                "realm_access.roles";
                   });
                 }};
  };
  std::vector<Field> fields{
      url("introspection_endpoint", p.introspection_endpoint),
      url("discovery", p.discovery),
      {"client_id", [&](const Entry& f) { r.read_nonempty_string(f, p.client_id); }},
      {"client_secret",
       [&](const Entry& f) {
         std::string text;
         if (!r.read_nonempty_string(f, text)) return;
         r.read_secret(f, text, {"client_secret", "secret", "client_secret"}, p.client_secret);
       }},
      r.enum_field("auth_method", kAuthMethods, p.auth_method,
                   "auth_method '{}' must be client_secret_basic or client_secret_post"),
      {"issuer",
       [&](const Entry& f) {
         std::string s;
         if (r.read_nonempty_string(f, s)) p.issuer = s;
       }},
      {"audiences",
       [&](const Entry& f) {
         if (!f.value.IsSequence() || f.value.size() == 0) {
           r.error(f.at, "'audiences' must be a non-empty list, e.g. [api://orders]");
           return;
         }
         r.read_string_list(f, p.audiences);
       }},
      r.uint_field("timeout_ms", p.timeout_ms, 1, 60000),
      r.uint_field("cache_s", p.cache_s, 0, 86400),
      r.uint_field("negative_cache_s", p.negative_cache_s, 0, 3600),
      r.uint_field("cache_entries", p.cache_entries, 1, 100000000),
      claim("scopes_claim", p.scopes_claim),
      claim("roles_claim", p.roles_claim),
      claim("rate_limit_claim", p.rate_limit_claim),
      r.uint_field("breaker_failures", p.breaker_failures, 1, 1000000),
      r.uint_field("breaker_open_s", p.breaker_open_s, 1, 3600),
      {"gates_readiness", [&](const Entry& f) { r.read_bool(f, p.gates_readiness); }},
      {"require_cert_binding", [&](const Entry& f) {
         if (r.read_bool(f, p.require_cert_binding)) p.cert_binding_mark = f.at;
       }}};
  std::map<std::string, Mark> tls_keys;
  add_tls_client_fields(r, TlsClientKeys::Provider, p.tls, tls_keys, fields);
  auto seen = r.walk_map(e.value, e.at, where, fields);
  check_tls_client(r, where, p.introspection_endpoint.https || seen.count("discovery") > 0,
                   "an https:// introspection_endpoint or discovery", tls_keys, p.tls);
  if (seen.count("introspection_endpoint") == seen.count("discovery")) {
    r.error(e.at, where + " needs exactly one of 'introspection_endpoint' or 'discovery'");
  }
  for (const char* required : {"client_id", "client_secret"}) {
    r.require(seen, required, e.at, where);
  }
}

}  // namespace

void load_oauth2_providers(YamlReader& r, const Entry& e, Config& config) {
  r.walk_named(e,
               "'oauth2_providers' must be a map of name -> { introspection_endpoint: ..., "
               "client_id: ..., client_secret: ... }",
               [&](const std::string& name, const Entry& f) {
                 load_provider(r, name, f, config.oauth2_providers[name]);
               });
}

std::optional<std::string> oauth2_method_unavailable(const Config& config,
                                                     const AuthMethod& method) {
  if (config.oauth2_providers.count(method.provider)) return std::nullopt;
  if (config.oauth2_providers.empty()) {
    return "auth method '" + method.str() + "' is not available (no oauth2_providers configured)";
  }
  return "auth method '" + method.str() + "' names no provider in oauth2_providers";
}

}  // namespace portcullis::config
