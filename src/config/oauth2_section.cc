// oauth2_providers: NAME -> { introspection_endpoint | discovery, client_id, client_secret,
// auth_method, issuer, audiences, timeout_ms, cache_s, negative_cache_s, cache_entries,
// scopes_claim, roles_claim, breaker_failures, breaker_open_s }.
#include "config/oauth2_section.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/url/parse.hpp>
#include <charconv>
#include <limits>
#include <set>

namespace portcullis::config {
namespace {

Mark mark_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

bool simple_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-' || c == '.';
  });
}

// A claim name or dotted path: "scope", "realm_access.roles", "https://x/roles" is not one.
bool claim_path(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.' || s.find("..") != std::string_view::npos) {
    return false;
  }
  return std::all_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
  });
}

class ProviderLoader {
 public:
  ProviderLoader(const ReportError& error, const std::string& base_dir)
      : error_(error), base_dir_(base_dir) {}

  void load(const std::string& name, const YAML::Node& key, const YAML::Node& value,
            OAuth2ProviderConfig& p) {
    const Mark key_at = mark_of(key);
    const Mark at = value.IsNull() ? key_at : mark_of(value);
    const std::string where = "oauth2 provider '" + name + "'";
    p.name = name;
    p.line = key_at.line;
    p.col = key_at.col;
    if (!simple_name(name)) {
      error_(key_at, "oauth2 provider name '" + name +
                         "' may only use letters, digits, '_', '-' and '.'");
    }
    if (!value.IsMap()) {
      error_(at, where + " must be a map, e.g. { introspection_endpoint: http://..., "
                         "client_id: ..., client_secret: ${SECRET} }");
      return;
    }
    static const std::vector<std::string> kKeys = {
        "introspection_endpoint", "discovery",        "client_id",     "client_secret",
        "auth_method",            "issuer",           "audiences",     "timeout_ms",
        "cache_s",                "negative_cache_s", "cache_entries", "scopes_claim",
        "roles_claim",            "breaker_failures", "breaker_open_s"};
    std::set<std::string> seen;
    for (auto it = value.begin(); it != value.end(); ++it) {
      const YAML::Node k = it->first;
      const YAML::Node v = it->second;
      const Mark k_at = mark_of(k);
      if (!k.IsScalar()) {
        error_(k_at, "keys must be plain strings in " + where);
        continue;
      }
      const std::string& field = k.Scalar();
      if (std::find(kKeys.begin(), kKeys.end(), field) == kKeys.end()) {
        std::string message = "unknown key '" + field + "' in " + where;
        if (auto near = nearest(field, kKeys)) message += " (did you mean '" + *near + "'?)";
        error_(k_at, message);
        continue;
      }
      if (!seen.insert(field).second) {
        error_(k_at, "duplicate key '" + field + "' in " + where);
        continue;
      }
      field_ = field;
      at_ = v.IsNull() ? k_at : mark_of(v);
      read_field(field, v, p);
    }
    const bool endpoint = seen.count("introspection_endpoint") != 0;
    const bool discovery = seen.count("discovery") != 0;
    if (endpoint == discovery) {
      error_(at, where + " needs exactly one of 'introspection_endpoint' or 'discovery'");
    }
    for (const char* required : {"client_id", "client_secret"}) {
      if (!seen.count(required)) {
        error_(at, "missing required key '" + std::string(required) + "' in " + where);
      }
    }
  }

 private:
  static std::optional<std::string> nearest(const std::string& key,
                                            const std::vector<std::string>& known) {
    std::optional<std::string> best;
    std::size_t best_distance = 3;
    for (const auto& k : known) {
      std::vector<std::size_t> row(k.size() + 1);
      for (std::size_t j = 0; j <= k.size(); ++j) row[j] = j;
      for (std::size_t i = 1; i <= key.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= k.size(); ++j) {
          std::size_t up = row[j];
          row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (key[i - 1] == k[j - 1] ? 0 : 1)});
          diag = up;
        }
      }
      if (row[k.size()] < best_distance) {
        best_distance = row[k.size()];
        best = k;
      }
    }
    return best;
  }

  void fail(const std::string& message) { error_(at_, message); }

  bool read_string(const YAML::Node& v, std::string& out) {
    if (!v.IsScalar() || v.Scalar().empty()) {
      fail("'" + field_ + "' must be a non-empty string");
      return false;
    }
    out = v.Scalar();
    return true;
  }

  template <typename T>
  void read_uint(const YAML::Node& v, T& out, std::uint64_t min, std::uint64_t max) {
    std::uint64_t value = 0;
    const std::string s = v.IsScalar() ? v.Scalar() : std::string();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (s.empty() || ec == std::errc::invalid_argument || ptr != s.data() + s.size()) {
      fail("'" + field_ + "' must be a whole number >= " + std::to_string(min));
      return;
    }
    if (ec == std::errc::result_out_of_range || value < min || value > max) {
      fail("'" + field_ + "' must be between " + std::to_string(min) + " and " +
           std::to_string(max));
      return;
    }
    out = static_cast<T>(value);
  }

  void read_url(const YAML::Node& v, HttpUrl& out) {
    std::string text;
    if (!read_string(v, text)) return;
    std::string why;
    if (!parse_http_url(text, out, why)) fail("invalid " + field_ + " '" + text + "': " + why);
  }

  void read_field(const std::string& f, const YAML::Node& v, OAuth2ProviderConfig& p) {
    if (f == "introspection_endpoint") return read_url(v, p.introspection_endpoint);
    if (f == "discovery") return read_url(v, p.discovery);
    if (f == "client_id") {
      read_string(v, p.client_id);
      return;
    }
    if (f == "client_secret") {
      std::string text;
      if (!read_string(v, text)) return;
      SecretRef ref = parse_secret_ref(text);
      if (ref.kind == SecretRef::Kind::Literal) {
        return fail("client_secret must be a reference, ${ENV_NAME} or file:/path, not the "
                    "secret itself");
      }
      std::string why;
      if (!resolve_secret(ref, text, base_dir_, p.client_secret, why)) {
        fail("client_secret: " + why);
      }
      return;
    }
    if (f == "auth_method") {
      std::string m;
      if (!read_string(v, m)) return;
      if (m == "client_secret_basic") {
        p.auth_method = ClientAuthMethod::ClientSecretBasic;
      } else if (m == "client_secret_post") {
        p.auth_method = ClientAuthMethod::ClientSecretPost;
      } else {
        fail("auth_method '" + m + "' must be client_secret_basic or client_secret_post");
      }
      return;
    }
    if (f == "issuer") {
      std::string s;
      if (read_string(v, s)) p.issuer = s;
      return;
    }
    if (f == "audiences") {
      if (!v.IsSequence() || v.size() == 0) {
        return fail("'audiences' must be a non-empty list, e.g. [api://orders]");
      }
      std::vector<std::string> out;
      for (const auto& item : v) {
        if (!item.IsScalar() || item.Scalar().empty()) {
          error_(mark_of(item), "items of 'audiences' must be non-empty strings");
          return;
        }
        out.push_back(item.Scalar());
      }
      p.audiences = std::move(out);
      return;
    }
    if (f == "timeout_ms") return read_uint(v, p.timeout_ms, 1, 60000);
    if (f == "cache_s") return read_uint(v, p.cache_s, 0, 86400);
    if (f == "negative_cache_s") return read_uint(v, p.negative_cache_s, 0, 3600);
    if (f == "cache_entries") return read_uint(v, p.cache_entries, 1, 100000000);
    if (f == "breaker_failures") return read_uint(v, p.breaker_failures, 1, 1000000);
    if (f == "breaker_open_s") return read_uint(v, p.breaker_open_s, 1, 3600);
    if (f == "scopes_claim" || f == "roles_claim") {
      std::string s;
      if (!read_string(v, s)) return;
      if (!claim_path(s)) {
        return fail("'" + f + "' must be a claim name or a dotted path such as "
                    "realm_access.roles");
      }
      (f == "scopes_claim" ? p.scopes_claim : p.roles_claim) = s;
      return;
    }
  }

  const ReportError& error_;
  const std::string& base_dir_;
  std::string field_;
  Mark at_;
};

}  // namespace

void load_oauth2_section(const YAML::Node& section, Mark at, const std::string& base_dir,
                         Config& config, const ReportError& error) {
  if (section.IsNull()) return;
  if (!section.IsMap()) {
    error(at, "'oauth2_providers' must be a map of name -> { introspection_endpoint: ..., "
              "client_id: ..., client_secret: ... }");
    return;
  }
  ProviderLoader loader(error, base_dir);
  for (auto it = section.begin(); it != section.end(); ++it) {
    const YAML::Node key = it->first;
    if (!key.IsScalar()) {
      error(mark_of(key), "keys must be plain strings in oauth2_providers");
      continue;
    }
    const std::string name = key.Scalar();
    if (config.oauth2_providers.count(name)) {
      error(mark_of(key), "duplicate key '" + name + "' in oauth2_providers");
      continue;
    }
    loader.load(name, key, it->second, config.oauth2_providers[name]);
  }
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
