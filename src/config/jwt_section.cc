// `jwt_providers`: NAME -> { issuer, audiences, algorithms, one key source, token and cache
// settings }. Shapes only: algorithm names and key material are judged by the jwt mechanism
// (auth/jwt/config_check.h) at the marks kept in JwtProviderConfig.
#include <algorithm>
#include <map>
#include <set>

#include "config/read_file.h"
#include "config/sections.h"
#include "config/syntax.h"
#include "url/http_url.h"

namespace portcullis::config {
namespace {

constexpr std::string_view kDiscoverySuffix = "/.well-known/openid-configuration";

// Claim names appear in error descriptions (inside a quoted WWW-Authenticate parameter), so
// they are printable ASCII without spaces, quotes or backslashes.
bool is_claim_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '"' && c != '\\';
  });
}

class ProviderReader {
 public:
  ProviderReader(YamlReader& r, const IdentityConfig& identity, JwtProviderConfig& p,
                 std::string where)
      : r_(r), identity_(identity), p_(p), where_(std::move(where)) {}

  void load(const Entry& e) {
    if (!r_.expect_map(
            e.value, e.at,
            where_ + " must be a map with issuer, audiences, algorithms and a key source")) {
      return;
    }
    std::vector<Field> fields = this->fields();
    std::map<std::string, Mark> tls_keys;
    add_tls_client_fields(r_, TlsClientKeys::Provider, p_.tls, tls_keys, fields);
    // Where each key is written, for the checks across keys below.
    for (auto& f : fields) {
      f.handle = [this, handle = std::move(f.handle)](const Entry& entry) {
        key_at_[entry.key] = entry.key_at;
        handle(entry);
      };
    }
    auto seen = r_.walk_map(e.value, e.at, where_, fields);
    r_.require(seen, "audiences", e.at, where_);
    r_.require(seen, "algorithms", e.at, where_);
    check_key_source(seen, e.at);
    check_tls_client(r_, where_, p_.jwks_uri.https || seen.count("discovery") > 0,
                     "an https:// jwks_uri or discovery", tls_keys, p_.tls);
    // The issuer may come from the discovery URL (OpenID Connect Discovery §4: the document
    // lives at ISSUER/.well-known/openid-configuration).
    if (p_.issuer.empty() && seen.count("discovery") && !p_.discovery.url.empty()) {
      std::string_view u = p_.discovery.url;
      if (u.ends_with(kDiscoverySuffix)) {
        p_.issuer = std::string(u.substr(0, u.size() - kDiscoverySuffix.size()));
      } else {
        r_.error(key_at_["discovery"],
                 where_ + ": 'issuer' is required when the discovery URL does not end in " +
                     std::string(kDiscoverySuffix));
      }
    }
    if (p_.issuer.empty() && !seen.count("issuer") && !seen.count("discovery")) {
      r_.error(e.at, "missing required key 'issuer' in " + where_);
    }
    check_refresh(e.at);
    for (const auto& [claim, header] : p_.claims_to_headers) {
      if (p_.header && to_lower(*p_.header) == to_lower(header)) {
        r_.error(key_at_["claims_to_headers"], where_ + ": claims_to_headers writes header '" +
                                                   header + "', which also carries the token");
      }
    }
  }

 private:
  using KS = JwtProviderConfig::KeySource;

  std::vector<Field> fields() {
    auto claim = [&](std::string_view key, std::string& target) {
      return Field{key, [&](const Entry& f) {
                     r_.read_nonempty_string(f, target, [&](const std::string& v) {
                       return is_claim_name(v)
                                  ? std::string()
                                  : "'" + f.key +
                                        "' must be a claim name or dotted path without spaces "
                                        "or quotes";
                     });
                   }};
    };
    return {
        {"issuer", [&](const Entry& f) { r_.read_nonempty_string(f, p_.issuer); }},
        {"audiences",
         [&](const Entry& f) {
           if (!r_.read_string_list(f, p_.audiences)) return;
           if (p_.audiences.empty()) r_.error(f.at, "'audiences' must list at least one audience");
         }},
        {"algorithms",
         [&](const Entry& f) {
           if (!r_.read_string_list(f, p_.algorithms, p_.algorithm_marks)) return;
           if (p_.algorithms.empty()) {
             r_.error(f.at, "'algorithms' must list at least one algorithm");
           }
         }},
        {"jwks_uri", [&](const Entry& f) { read_url(f, KS::JwksUri, p_.jwks_uri); }},
        {"discovery", [&](const Entry& f) { read_url(f, KS::Discovery, p_.discovery); }},
        {"jwks_file",
         [&](const Entry& f) { read_key_file(f, KS::JwksFile, p_.jwks_file, p_.jwks_json); }},
        {"public_key_file",
         [&](const Entry& f) {
           read_key_file(f, KS::PublicKeyFile, p_.public_key_file, p_.public_key_pem);
         }},
        {"secret", [&](const Entry& f) { read_secret(f); }},
        r_.uint_field("clock_skew_s", p_.clock_skew_s, 0, 3600),
        r_.uint_field("max_token_bytes", p_.max_token_bytes, 64, 1u << 20),
        {"required_claims",
         [&](const Entry& f) {
           r_.read_string_list(f, p_.required_claims, [](const std::string& c) {
             return is_claim_name(c)
                        ? std::string()
                        : "claim name '" + c + "' may not contain spaces, quotes or backslashes";
           });
         }},
        {"max_lifetime_s",
         [&](const Entry& f) {
           unsigned s = 0;
           if (r_.read_uint(f, s, 1, 31536000)) p_.max_lifetime_s = s;
         }},
        {"typ",
         [&](const Entry& f) {
           std::string t;
           if (r_.read_nonempty_string(f, t, [](const std::string& v) {
                 return is_claim_name(v) ? "" : "'typ' must be a media type such as at+jwt";
               })) {
             p_.typ = t;
           }
         }},
        claim("scopes_claim", p_.scopes_claim),
        claim("roles_claim", p_.roles_claim),
        claim("rate_limit_claim", p_.rate_limit_claim),
        {"claims_to_headers", [&](const Entry& f) { read_claims_to_headers(f); }},
        {"header", [&](const Entry& f) { read_token_header(f); }},
        {"cookie",
         [&](const Entry& f) {
           std::string c;
           if (r_.read_nonempty_string(f, c, [](const std::string& v) {
                 return is_token(v) ? "" : "'" + v + "' is not a valid cookie name";
               })) {
             p_.cookie = c;
           }
         }},
        r_.uint_field("jwks_refresh_s", p_.jwks_refresh_s, 1, 86400 * 7),
        r_.uint_field("jwks_min_refresh_s", p_.jwks_min_refresh_s, 1, 86400 * 7),
        r_.uint_field("jwks_max_refresh_s", p_.jwks_max_refresh_s, 1, 86400 * 7),
        r_.uint_field("jwks_refetch_cooldown_s", p_.jwks_refetch_cooldown_s, 0, 86400),
        r_.uint_field("jwks_max_stale_s", p_.jwks_max_stale_s, 1, 86400 * 30),
        r_.uint_field("jwks_timeout_ms", p_.jwks_timeout_ms, 100, 60000),
        r_.uint_field("token_cache_entries", p_.token_cache_entries, 0, 10000000),
        r_.uint_field("cache_max_s", p_.cache_max_s, 1, 86400),
        {"gates_readiness", [&](const Entry& f) { r_.read_bool(f, p_.gates_readiness); }},
        {"require_cert_binding",
         [&](const Entry& f) {
           if (r_.read_bool(f, p_.require_cert_binding)) p_.cert_binding_mark = f.at;
         }},
    };
  }

  void read_url(const Entry& f, KS source, FetchUrl& out) {
    p_.key_source = source;
    std::string text, why;
    if (!r_.read_nonempty_string(f, text)) return;
    if (!parse_fetch_url(text, out, why)) {
      r_.error(f.at, "invalid " + f.key + " '" + url::redact(text) + "': " + why);
    }
  }

  // The file is read at load, so that a reload sees the key as it is then.
  void read_key_file(const Entry& f, KS source, std::string& path, std::string& content) {
    p_.key_source = source;
    if (r_.read_named_file(f, kMaxKeyFileBytes, path, content)) p_.key_file_mark = f.at;
  }

  void read_secret(const Entry& f) {
    p_.key_source = KS::Secret;
    if (!f.value.IsScalar() || f.value.Scalar().empty()) {
      r_.error(f.at, "'secret' must be ${ENV_NAME} or file:/path");
      return;
    }
    if (r_.read_secret(f, f.value.Scalar(), {"'secret'", "secret", where_ + " secret"},
                       p_.secret)) {
      p_.secret_mark = f.at;
    }
  }

  // A header the gateway reads a token from or writes a claim to: a valid name that is not
  // part of the HTTP framing, the forwarding headers or the identity headers.
  bool read_header(const Entry& f, std::string& out) {
    std::string h;
    if (!r_.read_nonempty_string(f, h)) return false;
    if (!is_token(h)) {
      r_.error(f.at, "'" + h + "' is not a valid HTTP header name");
      return false;
    }
    const std::string key = header_key(h);
    if (const auto why = reserved_header(h); !why.empty()) {
      r_.error(f.at, "'" + h + "' cannot be used here: it " + std::string(why));
      return false;
    }
    const auto& ids = identity_.headers;
    for (const std::string* name : {&ids.user_id, &ids.client_id, &ids.scopes, &ids.roles,
                                    &ids.auth_method, &ids.request_id}) {
      if (header_key(*name) == key) {
        r_.error(f.at, "'" + h + "' is an identity header (identity.headers)");
        return false;
      }
    }
    if (identity_.signed_context && header_key(identity_.signed_context->header) == key) {
      r_.error(f.at, "'" + h + "' carries the signed identity context (identity.signed_context)");
      return false;
    }
    out = h;
    return true;
  }

  void read_token_header(const Entry& f) {
    std::string h;
    if (!read_header(f, h)) return;
    for (const auto& s : identity_.strip_inbound) {
      if (to_lower(s) == to_lower(h)) {
        r_.error(f.at, "header '" + h +
                           "' is listed in identity.strip_inbound, so a token in it would be "
                           "removed before it is read");
        return;
      }
    }
    p_.header = h;
  }

  // claim -> header; the keys are claim names, so this map is not walked against a key list.
  void read_claims_to_headers(const Entry& f) {
    if (!r_.expect_map(f.value, f.at,
                       "'claims_to_headers' must be a map of claim -> header, e.g. { email: "
                       "X-User-Email }")) {
      return;
    }
    std::set<std::string> headers;
    for (auto it = f.value.begin(); it != f.value.end(); ++it) {
      const YAML::Node claim = it->first;
      const YAML::Node value = it->second;
      const Mark claim_at = mark_of(claim);
      if (!claim.IsScalar() || !is_claim_name(claim.Scalar())) {
        r_.error(claim_at,
                 "claims_to_headers: claim names must be plain strings without spaces "
                 "or quotes");
        continue;
      }
      std::string header;
      const Entry entry{"claims_to_headers." + claim.Scalar(), value,
                        value.IsNull() ? claim_at : mark_of(value), claim_at};
      if (!read_header(entry, header)) continue;
      if (!headers.insert(to_lower(header)).second) {
        r_.error(mark_of(value), "claims_to_headers: header '" + header + "' is used twice");
        continue;
      }
      p_.claims_to_headers.emplace_back(claim.Scalar(), header);
    }
  }

  void check_key_source(const std::set<std::string>& seen, Mark at) {
    static constexpr const char* kSources[] = {"jwks_uri", "jwks_file", "public_key_file", "secret",
                                               "discovery"};
    int count = 0;
    for (const char* s : kSources) {
      if (!seen.count(s) || ++count != 2) continue;
      r_.error(key_at_[s], where_ + " has more than one key source ('" + s +
                               "' as well as another); use exactly one of jwks_uri, jwks_file, "
                               "public_key_file, secret, discovery");
    }
    if (count == 0) {
      r_.error(at, where_ +
                       " needs one key source: jwks_uri, jwks_file, public_key_file, "
                       "secret or discovery");
    }
  }

  void check_refresh(Mark at) {
    auto where_is = [&](const char* key) { return key_at_.count(key) ? key_at_[key] : at; };
    if (p_.jwks_min_refresh_s > p_.jwks_max_refresh_s) {
      r_.error(where_is("jwks_min_refresh_s"),
               where_ + ": jwks_min_refresh_s (" + std::to_string(p_.jwks_min_refresh_s) +
                   ") is above jwks_max_refresh_s (" + std::to_string(p_.jwks_max_refresh_s) + ")");
    } else if (p_.jwks_refresh_s < p_.jwks_min_refresh_s ||
               p_.jwks_refresh_s > p_.jwks_max_refresh_s) {
      r_.error(where_is("jwks_refresh_s"),
               where_ + ": jwks_refresh_s (" + std::to_string(p_.jwks_refresh_s) +
                   ") must be within jwks_min_refresh_s and jwks_max_refresh_s (" +
                   std::to_string(p_.jwks_min_refresh_s) + ".." +
                   std::to_string(p_.jwks_max_refresh_s) + ")");
    }
  }

  YamlReader& r_;
  const IdentityConfig& identity_;
  JwtProviderConfig& p_;
  std::string where_;
  std::map<std::string, Mark> key_at_;
};

}  // namespace

void load_jwt_providers(YamlReader& r, const Entry& e, Config& config) {
  r.walk_named(e, "'jwt_providers' must be a map of name -> { issuer: ..., ... }",
               [&](const std::string& name, const Entry& f) {
                 if (!is_simple_name(name)) {
                   r.error(f.key_at, "jwt provider name '" + name +
                                         "' may only use letters, digits, '_', '-' and '.'");
                 }
                 JwtProviderConfig& p = config.jwt_providers[name];
                 p.name = name;
                 p.mark = f.key_at;
                 ProviderReader(r, config.identity, p, "jwt provider '" + name + "'").load(f);
               });
}

}  // namespace portcullis::config
