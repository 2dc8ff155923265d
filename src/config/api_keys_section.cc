// `api_keys`: where the key registry lives, the header keys come in, the pepper.
#include <boost/url/parse.hpp>
#include <filesystem>

#include "config/sections.h"
#include "config/syntax.h"

namespace portcullis::config {
namespace {

void read_key_header(YamlReader& r, const Entry& f, const IdentityConfig& identity,
                     ApiKeysConfig& k) {
  std::string h;
  if (!r.read_header_name(f, h)) return;
  std::string lower = to_lower(h);
  if (lower == "authorization") {
    r.error(f.at,
            "api_keys.header cannot be Authorization: 'Authorization: ApiKey "
            "<key>' is always accepted");
    return;
  }
  // The sanitizer removes identity headers before authentication runs, so a key sent in one
  // of them would never be seen.
  const auto& ids = identity.headers;
  for (const std::string* name :
       {&ids.user_id, &ids.client_id, &ids.scopes, &ids.roles, &ids.auth_method, &ids.request_id}) {
    if (to_lower(*name) == lower) {
      r.error(f.at, "api_keys.header '" + h + "' is an identity header");
      return;
    }
  }
  for (const auto& name : identity.strip_inbound) {
    if (to_lower(name) == lower) {
      r.error(f.at, "api_keys.header '" + h + "' is listed in identity.strip_inbound");
      return;
    }
  }
  k.header = h;
}

void read_pepper(YamlReader& r, const Entry& f, ApiKeysConfig& k) {
  std::string text;
  if (!r.read_string(f, text)) return;
  if (text.empty()) {
    r.error(f.at, "api_keys.pepper must not be empty: use ${ENV_NAME} or file:/path");
    return;
  }
  if (!r.read_secret(f, text, {"api_keys.pepper", "pepper", "api_keys.pepper"}, k.pepper)) return;
  if (k.pepper.reveal().size() < 16) {
    r.error(f.at, "api_keys.pepper is " + std::to_string(k.pepper.reveal().size()) +
                      " bytes; use at least 16 random bytes (e.g. openssl rand -base64 32)");
    k.pepper = Secret();
  }
}

}  // namespace

void load_api_keys(YamlReader& r, const Entry& e, Config& config) {
  // Present from here on, even with errors: routes naming api_key are not reported again.
  auto& k = config.api_keys.emplace();
  k.mark = e.key_at;
  auto seen =
      r.walk_map(e.value, e.at, "api_keys",
                 {{"header", [&](const Entry& f) { read_key_header(r, f, config.identity, k); }},
                  {"store",
                   [&](const Entry& f) {
                     std::string url;
                     if (!r.read_nonempty_string(f, url)) return;
                     KeyStoreLocation loc;
                     std::string why;
                     if (!parse_key_store_url(url, r.base_dir(), loc, why)) {
                       r.error(f.at, "invalid api_keys.store '" + url + "': " + why);
                       return;
                     }
                     k.store = url;
                     k.store_path = loc.path;
                     k.store_at = f.at;
                   }},
                  {"pepper", [&](const Entry& f) { read_pepper(r, f, k); }},
                  r.uint_field("poll_interval_ms", k.poll_interval_ms, 100, 60000)});
  if (e.value.IsMap() || e.value.IsNull()) {
    r.require(seen, "store", e.at, "api_keys");
    r.require(seen, "pepper", e.at, "api_keys");
  }
}

bool parse_key_store_url(std::string_view url, const std::string& base_dir, KeyStoreLocation& out,
                         std::string& error) {
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

}  // namespace portcullis::config
