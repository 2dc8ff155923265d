#include "config/jwt_section.h"

#include <algorithm>
#include <boost/url/parse.hpp>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <set>

#include "jose/algorithms.h"
#include "jose/keys.h"

namespace portcullis::config {
namespace {

namespace jwt = portcullis::jose;

constexpr std::string_view kDiscoverySuffix = "/.well-known/openid-configuration";

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
  });
}

bool is_simple_name(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

// Claim names appear in error descriptions (inside a quoted WWW-Authenticate parameter), so
// they are printable ASCII without spaces, quotes or backslashes.
bool is_claim_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && c != '"' && c != '\\';
  });
}

bool read_file(const std::string& path, std::string& out, std::string& error) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) {
    error = std::strerror(errno);
    return false;
  }
  char buf[8192];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) {
    out.append(buf, n);
    if (out.size() > (1u << 20)) {
      error = "larger than 1 MiB";
      return false;
    }
  }
  if (std::ferror(f.get())) {
    error = std::strerror(errno);
    return false;
  }
  return true;
}

struct At {
  int line = 0;
  int col = 0;
};

At mark_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

class ProviderLoader {
 public:
  ProviderLoader(const JwtSectionContext& ctx, JwtProviderConfig& p, std::string where)
      : ctx_(ctx), p_(p), where_(std::move(where)) {}

  void load(const YAML::Node& node, At at) {
    if (!node.IsMap()) {
      error(at, where_ + " must be a map with issuer, audiences, algorithms and a key source");
      return;
    }
    std::set<std::string> seen;
    std::map<std::string, At> key_at;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;
      const YAML::Node value = it->second;
      At k = mark_of(key);
      if (!key.IsScalar()) {
        error(k, "keys must be plain strings in " + where_);
        continue;
      }
      const std::string name = key.Scalar();
      if (!seen.insert(name).second) {
        error(k, "duplicate key '" + name + "' in " + where_);
        continue;
      }
      key_at[name] = k;
      At v = value.IsNull() ? k : mark_of(value);
      field(name, value, v, k);
    }
    auto require = [&](const char* key) {
      if (!seen.count(key)) error(at, "missing required key '" + std::string(key) + "' in " + where_);
    };
    require("audiences");
    require("algorithms");

    const char* sources[] = {"jwks_uri", "jwks_file", "public_key_file", "secret", "discovery"};
    int n_sources = 0;
    for (const char* s : sources) n_sources += static_cast<int>(seen.count(s));
    if (n_sources == 0) {
      error(at, where_ + " needs one key source: jwks_uri, jwks_file, public_key_file, secret "
                         "or discovery");
    } else if (n_sources > 1) {
      std::string second;
      At second_at = at;
      int count = 0;
      for (const char* s : sources) {
        if (seen.count(s) && ++count == 2) {
          second = s;
          second_at = key_at[s];
        }
      }
      error(second_at, where_ + " has more than one key source ('" + second +
                           "' as well as another); use exactly one of jwks_uri, jwks_file, "
                           "public_key_file, secret, discovery");
    }
    // The issuer may come from the discovery URL (OpenID Connect Discovery §4: the document
    // lives at ISSUER/.well-known/openid-configuration).
    if (p_.issuer.empty() && seen.count("discovery") && !p_.discovery.url.empty()) {
      std::string_view u = p_.discovery.url;
      if (u.ends_with(kDiscoverySuffix)) {
        p_.issuer = std::string(u.substr(0, u.size() - kDiscoverySuffix.size()));
      } else {
        error(key_at["discovery"],
              where_ + ": 'issuer' is required when the discovery URL does not end in " +
                  std::string(kDiscoverySuffix));
      }
    }
    if (p_.issuer.empty() && !seen.count("issuer") && !seen.count("discovery")) {
      error(at, "missing required key 'issuer' in " + where_);
    }
    if (n_sources == 1) cross_checks(key_at);
    if (p_.jwks_min_refresh_s > p_.jwks_max_refresh_s) {
      error(key_at.count("jwks_min_refresh_s") ? key_at["jwks_min_refresh_s"] : at,
            where_ + ": jwks_min_refresh_s (" + std::to_string(p_.jwks_min_refresh_s) +
                ") is above jwks_max_refresh_s (" + std::to_string(p_.jwks_max_refresh_s) + ")");
    } else if (p_.jwks_refresh_s < p_.jwks_min_refresh_s ||
               p_.jwks_refresh_s > p_.jwks_max_refresh_s) {
      error(key_at.count("jwks_refresh_s") ? key_at["jwks_refresh_s"] : at,
            where_ + ": jwks_refresh_s (" + std::to_string(p_.jwks_refresh_s) +
                ") must be within jwks_min_refresh_s and jwks_max_refresh_s (" +
                std::to_string(p_.jwks_min_refresh_s) + ".." +
                std::to_string(p_.jwks_max_refresh_s) + ")");
    }
    for (const auto& [claim, header] : p_.claims_to_headers) {
      if (p_.header && lower(*p_.header) == lower(header)) {
        error(key_at["claims_to_headers"], where_ + ": claims_to_headers writes header '" +
                                               header + "', which also carries the token");
      }
    }
  }

 private:
  void error(At at, const std::string& m) { ctx_.error(at.line, at.col, m); }
  void warning(At at, const std::string& m) { ctx_.warning(at.line, at.col, m); }

  bool read_string(const std::string& key, const YAML::Node& v, At at, std::string& out) {
    if (!v.IsScalar() || v.Scalar().empty()) {
      error(at, "'" + key + "' must be a non-empty string");
      return false;
    }
    out = v.Scalar();
    return true;
  }

  template <typename T>
  bool read_uint(const std::string& key, const YAML::Node& v, At at, T& out, uint64_t min,
                 uint64_t max) {
    uint64_t value = 0;
    const std::string s = v.IsScalar() ? v.Scalar() : std::string();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (!v.IsScalar() || s.empty() || ec != std::errc() || ptr != s.data() + s.size() ||
        value < min || value > max) {
      error(at, "'" + key + "' must be a whole number between " + std::to_string(min) +
                    " and " + std::to_string(max));
      return false;
    }
    out = static_cast<T>(value);
    return true;
  }

  bool read_list(const std::string& key, const YAML::Node& v, At at,
                 std::vector<std::pair<std::string, At>>& out) {
    if (!v.IsSequence()) {
      error(at, "'" + key + "' must be a list, e.g. [a, b]");
      return false;
    }
    bool ok = true;
    for (const auto& item : v) {
      if (!item.IsScalar() || item.Scalar().empty()) {
        error(mark_of(item), "items of '" + key + "' must be non-empty strings");
        ok = false;
        continue;
      }
      out.emplace_back(item.Scalar(), mark_of(item));
    }
    return ok;
  }

  bool read_header(const std::string& key, const YAML::Node& v, At at, std::string& out) {
    std::string h;
    if (!read_string(key, v, at, h)) return false;
    if (!is_token(h)) {
      error(at, "'" + h + "' is not a valid HTTP header name");
      return false;
    }
    std::string l = lower(h);
    std::replace(l.begin(), l.end(), '_', '-');
    static const std::set<std::string> kReserved = {
        "authorization", "host", "connection", "keep-alive", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "proxy-authorization", "cookie",
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "expect"};
    if (kReserved.count(l)) {
      error(at, "'" + h + "' cannot be used here");
      return false;
    }
    if (ctx_.identity) {
      const auto& ids = ctx_.identity->headers;
      for (const std::string* name : {&ids.user_id, &ids.client_id, &ids.scopes, &ids.roles,
                                       &ids.auth_method, &ids.request_id}) {
        std::string n = lower(*name);
        std::replace(n.begin(), n.end(), '_', '-');
        if (n == l) {
          error(at, "'" + h + "' is an identity header (identity.headers)");
          return false;
        }
      }
    }
    out = h;
    return true;
  }

  bool read_url(const std::string& key, const YAML::Node& v, At at, FetchUrl& out) {
    std::string text, why;
    if (!read_string(key, v, at, text)) return false;
    if (!parse_fetch_url(text, out, why)) {
      error(at, "invalid " + key + " '" + text + "': " + why);
      return false;
    }
    return true;
  }

  std::string resolve(const std::string& path) const {
    std::filesystem::path p(path);
    if (p.is_relative()) p = std::filesystem::path(ctx_.base_dir) / p;
    return p.lexically_normal().string();
  }

  void field(const std::string& key, const YAML::Node& v, At at, At key_at) {
    if (key == "issuer") {
      if (read_string(key, v, at, p_.issuer)) issuer_at_ = at;
    } else if (key == "audiences") {
      std::vector<std::pair<std::string, At>> items;
      if (!read_list(key, v, at, items)) return;
      if (items.empty()) error(at, "'audiences' must list at least one audience");
      for (auto& [a, _] : items) p_.audiences.push_back(a);
    } else if (key == "algorithms") {
      std::vector<std::pair<std::string, At>> items;
      if (!read_list(key, v, at, items)) return;
      if (items.empty()) error(at, "'algorithms' must list at least one algorithm");
      algorithms_at_ = at;
      for (auto& [a, item_at] : items) {
        if (jwt::is_none_alg(a)) {
          error(item_at, "algorithm '" + a + "' is never accepted: unsigned tokens prove nothing");
          continue;
        }
        auto alg = jwt::parse_alg(a);
        if (!alg) {
          error(item_at, "unknown algorithm '" + a + "': expected HS256, HS384, HS512, RS256, "
                         "RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA");
          continue;
        }
        if (std::find(p_.algorithms.begin(), p_.algorithms.end(), a) != p_.algorithms.end()) {
          error(item_at, "algorithm '" + a + "' is listed twice");
          continue;
        }
        p_.algorithms.push_back(a);
        alg_at_.emplace_back(*alg, item_at);
      }
    } else if (key == "jwks_uri") {
      p_.key_source = JwtProviderConfig::KeySource::JwksUri;
      read_url(key, v, at, p_.jwks_uri);
    } else if (key == "discovery") {
      p_.key_source = JwtProviderConfig::KeySource::Discovery;
      read_url(key, v, at, p_.discovery);
    } else if (key == "jwks_file") {
      p_.key_source = JwtProviderConfig::KeySource::JwksFile;
      std::string path, why;
      if (!read_string(key, v, at, path)) return;
      p_.jwks_file = resolve(path);
      if (!read_file(p_.jwks_file, p_.jwks_json, why)) {
        error(at, "jwks_file " + p_.jwks_file + ": cannot read: " + why);
        return;
      }
      key_file_at_ = at;
    } else if (key == "public_key_file") {
      p_.key_source = JwtProviderConfig::KeySource::PublicKeyFile;
      std::string path, why;
      if (!read_string(key, v, at, path)) return;
      p_.public_key_file = resolve(path);
      if (!read_file(p_.public_key_file, p_.public_key_pem, why)) {
        error(at, "public_key_file " + p_.public_key_file + ": cannot read: " + why);
        return;
      }
      key_file_at_ = at;
    } else if (key == "secret") {
      p_.key_source = JwtProviderConfig::KeySource::Secret;
      std::string text, why;
      if (!v.IsScalar() || v.Scalar().empty()) {
        error(at, "'secret' must be ${ENV_NAME} or file:/path");
        return;
      }
      text = v.Scalar();
      SecretRef ref = parse_secret_ref(text);
      if (ref.kind == SecretRef::Kind::Literal) {
        error(at, "'secret' must be a reference, ${ENV_NAME} or file:/path, not the secret "
                  "itself");
        return;
      }
      if (!resolve_secret(ref, text, ctx_.base_dir, p_.secret, why)) {
        error(at, where_ + " secret: " + why);
        return;
      }
      secret_at_ = at;
    } else if (key == "clock_skew_s") {
      read_uint(key, v, at, p_.clock_skew_s, 0, 3600);
    } else if (key == "max_token_bytes") {
      read_uint(key, v, at, p_.max_token_bytes, 64, 1u << 20);
    } else if (key == "required_claims") {
      std::vector<std::pair<std::string, At>> items;
      if (!read_list(key, v, at, items)) return;
      p_.required_claims.clear();
      for (auto& [c, item_at] : items) {
        if (!is_claim_name(c)) {
          error(item_at, "claim name '" + c + "' may not contain spaces, quotes or backslashes");
          continue;
        }
        p_.required_claims.push_back(c);
      }
    } else if (key == "max_lifetime_s") {
      unsigned s = 0;
      if (read_uint(key, v, at, s, 1, 31536000)) p_.max_lifetime_s = s;
    } else if (key == "typ") {
      std::string t;
      if (!read_string(key, v, at, t)) return;
      if (!is_claim_name(t)) {
        error(at, "'typ' must be a media type such as at+jwt");
        return;
      }
      p_.typ = t;
    } else if (key == "scopes_claim" || key == "roles_claim") {
      std::string c;
      if (!read_string(key, v, at, c)) return;
      if (!is_claim_name(c)) {
        error(at, "'" + key + "' must be a claim name or dotted path without spaces or quotes");
        return;
      }
      (key == "scopes_claim" ? p_.scopes_claim : p_.roles_claim) = c;
    } else if (key == "claims_to_headers") {
      if (!v.IsMap()) {
        error(at, "'claims_to_headers' must be a map of claim -> header, e.g. { email: "
                  "X-User-Email }");
        return;
      }
      std::set<std::string> headers;
      for (auto it = v.begin(); it != v.end(); ++it) {
        const YAML::Node ck = it->first;
        const YAML::Node hv = it->second;
        At c_at = mark_of(ck);
        if (!ck.IsScalar() || !is_claim_name(ck.Scalar())) {
          error(c_at, "claims_to_headers: claim names must be plain strings without spaces or "
                      "quotes");
          continue;
        }
        std::string header;
        if (!read_header("claims_to_headers." + ck.Scalar(), hv, hv.IsNull() ? c_at : mark_of(hv),
                         header)) {
          continue;
        }
        if (!headers.insert(lower(header)).second) {
          error(mark_of(hv), "claims_to_headers: header '" + header + "' is used twice");
          continue;
        }
        p_.claims_to_headers.emplace_back(ck.Scalar(), header);
      }
    } else if (key == "header") {
      std::string h;
      if (read_header(key, v, at, h)) {
        if (ctx_.identity) {
          for (const auto& s : ctx_.identity->strip_inbound) {
            if (lower(s) == lower(h)) {
              error(at, "header '" + h + "' is listed in identity.strip_inbound, so a token "
                        "in it would be removed before it is read");
              return;
            }
          }
        }
        p_.header = h;
      }
    } else if (key == "cookie") {
      std::string c;
      if (!read_string(key, v, at, c)) return;
      if (!is_token(c)) {
        error(at, "'" + c + "' is not a valid cookie name");
        return;
      }
      p_.cookie = c;
    } else if (key == "jwks_refresh_s") {
      read_uint(key, v, at, p_.jwks_refresh_s, 1, 86400 * 7);
    } else if (key == "jwks_min_refresh_s") {
      read_uint(key, v, at, p_.jwks_min_refresh_s, 1, 86400 * 7);
    } else if (key == "jwks_max_refresh_s") {
      read_uint(key, v, at, p_.jwks_max_refresh_s, 1, 86400 * 7);
    } else if (key == "jwks_refetch_cooldown_s") {
      read_uint(key, v, at, p_.jwks_refetch_cooldown_s, 0, 86400);
    } else if (key == "jwks_max_stale_s") {
      read_uint(key, v, at, p_.jwks_max_stale_s, 1, 86400 * 30);
    } else if (key == "jwks_timeout_ms") {
      read_uint(key, v, at, p_.jwks_timeout_ms, 100, 60000);
    } else if (key == "token_cache_entries") {
      read_uint(key, v, at, p_.token_cache_entries, 0, 10000000);
    } else if (key == "cache_max_s") {
      read_uint(key, v, at, p_.cache_max_s, 1, 86400);
    } else {
      static const char* kKeys[] = {
          "issuer", "audiences", "algorithms", "jwks_uri", "jwks_file", "public_key_file",
          "secret", "discovery", "clock_skew_s", "max_token_bytes", "required_claims",
          "max_lifetime_s", "typ", "scopes_claim", "roles_claim", "claims_to_headers", "header",
          "cookie", "jwks_refresh_s", "jwks_min_refresh_s", "jwks_max_refresh_s",
          "jwks_refetch_cooldown_s", "jwks_max_stale_s", "jwks_timeout_ms",
          "token_cache_entries", "cache_max_s"};
      std::string message = "unknown key '" + key + "' in " + where_;
      for (const char* k : kKeys) {
        // A cheap typo hint: same first three letters and similar length.
        std::string_view kv(k);
        if (key.size() >= 3 && kv.substr(0, 3) == std::string_view(key).substr(0, 3) &&
            (kv.size() > key.size() ? kv.size() - key.size() : key.size() - kv.size()) <= 2) {
          message += " (did you mean '" + std::string(kv) + "'?)";
          break;
        }
      }
      error(key_at, message);
    }
  }

  // Algorithms against the key source: HS only with a secret, never with public keys.
  void cross_checks(std::map<std::string, At>& key_at) {
    using KS = JwtProviderConfig::KeySource;
    const bool secret = p_.key_source == KS::Secret;
    for (const auto& [alg, at] : alg_at_) {
      const bool hmac = jwt::alg_family(alg) == jwt::AlgFamily::Hmac;
      const std::string name(jwt::alg_name(alg));
      if (hmac && !secret) {
        error(at, "algorithm " + name + " needs a shared secret ('secret'); HMAC is never "
                  "used with a JWKS or public key, whose public half anyone can read");
      } else if (!hmac && secret) {
        error(at, "algorithm " + name + " needs a public key (jwks_uri, jwks_file, "
                  "public_key_file or discovery), not a shared secret");
      } else if (hmac && secret && !p_.secret.empty() &&
                 p_.secret.reveal().size() < jwt::alg_hash_bytes(alg)) {
        error(secret_at_, where_ + ": the secret is " + std::to_string(p_.secret.reveal().size()) +
                              " bytes; " + name + " needs at least " +
                              std::to_string(jwt::alg_hash_bytes(alg)) + " (RFC 7518 §3.2)");
      }
    }
    if (p_.key_source == KS::PublicKeyFile && !p_.public_key_pem.empty()) {
      jwt::Key key;
      std::string why;
      if (!jwt::parse_pem_public_key(p_.public_key_pem, key, why)) {
        error(key_file_at_, "public_key_file " + p_.public_key_file + ": " + why);
        return;
      }
      for (const auto& [alg, at] : alg_at_) {
        if (jwt::alg_family(alg) != jwt::AlgFamily::Hmac && !jwt::key_allows(key, alg)) {
          error(at, "algorithm " + std::string(jwt::alg_name(alg)) + " cannot be used with the " +
                        jwt::describe_key(key) + " key in " + p_.public_key_file);
        }
      }
    }
    if (p_.key_source == KS::JwksFile && !p_.jwks_json.empty()) {
      jwt::KeySet set;
      std::vector<std::string> skipped;
      std::string why;
      if (!jwt::parse_jwks(p_.jwks_json, set, skipped, why)) {
        error(key_file_at_, "jwks_file " + p_.jwks_file + ": " + why);
        return;
      }
      for (const auto& s : skipped) {
        warning(key_file_at_, "jwks_file " + p_.jwks_file + ": skipping " + s);
      }
      bool usable = false;
      for (const auto& k : set.all()) {
        for (const auto& [alg, at] : alg_at_) usable |= jwt::key_allows(*k, alg);
      }
      if (!usable) {
        error(key_file_at_, "jwks_file " + p_.jwks_file +
                                " has no key usable with the provider's algorithms");
      }
    }
    (void)key_at;
  }

  const JwtSectionContext& ctx_;
  JwtProviderConfig& p_;
  std::string where_;
  std::vector<std::pair<jwt::Alg, At>> alg_at_;
  At issuer_at_, algorithms_at_, key_file_at_, secret_at_;
};

}  // namespace

void load_jwt_providers(const YAML::Node& section, int line, int col,
                        const JwtSectionContext& ctx,
                        std::map<std::string, JwtProviderConfig>& out) {
  At at{line, col};
  if (section.IsNull()) return;
  if (!section.IsMap()) {
    ctx.error(line, col, "'jwt_providers' must be a map of name -> { issuer: ..., ... }");
    return;
  }
  std::set<std::string> names;
  for (auto it = section.begin(); it != section.end(); ++it) {
    const YAML::Node key = it->first;
    const YAML::Node value = it->second;
    At k = mark_of(key);
    if (!key.IsScalar()) {
      ctx.error(k.line, k.col, "keys must be plain strings in jwt_providers");
      continue;
    }
    const std::string name = key.Scalar();
    if (!names.insert(name).second) {
      ctx.error(k.line, k.col, "duplicate jwt provider '" + name + "'");
      continue;
    }
    std::string where = "jwt provider '" + name + "'";
    if (!is_simple_name(name)) {
      ctx.error(k.line, k.col,
                "jwt provider name '" + name + "' may only use letters, digits, '_', '-' and '.'");
    }
    JwtProviderConfig& p = out[name];
    p.name = name;
    p.line = k.line;
    p.col = k.col;
    ProviderLoader(ctx, p, where).load(value, value.IsNull() ? k : mark_of(value));
  }
  (void)at;
}

std::string check_jwt_query_param(const std::string& name) {
  bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
  });
  if (!plain) return "'jwt_query_param' may only use letters, digits, '-', '.', '_' and '~'";
  return {};
}

}  // namespace portcullis::config
