// `api_keys`: where the key registry lives (config/key_store_url.h), the header keys come in,
// the pepper.
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
  if (identity.signed_context && to_lower(identity.signed_context->header) == lower) {
    r.error(f.at, "api_keys.header '" + h + "' is identity.signed_context.header");
    return;
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
  if (!r.read_secret(f, {"api_keys.pepper", "pepper", "api_keys.pepper"}, k.pepper)) return;
  if (k.pepper.reveal().size() < 16) {
    r.error(f.at, "api_keys.pepper is " + std::to_string(k.pepper.reveal().size()) +
                      " bytes; use at least 16 random bytes (e.g. openssl rand -base64 32)");
    k.pepper = Secret();
  }
}

void read_store(YamlReader& r, const Entry& f, ApiKeysConfig& k) {
  std::string url;
  if (!r.read_nonempty_string(f, url)) return;
  KeyStoreLocation loc;
  std::string why;
  if (!parse_key_store_url(url, r.base_dir(), loc, why)) {
    // Never the URL as written: it may carry a password.
    r.error(f.at, "invalid api_keys.store '" + mask_store_url(url) + "': " + why);
    return;
  }
  k.store = loc.display;
  k.store_at = f.at;
  k.store_path = loc.path;
  k.store_password = loc.password;
  k.store_location = std::move(loc);
}

// What only makes sense together: a password and a schema belong to a PostgreSQL store, and
// the password is given once.
void check_postgres_fields(YamlReader& r, const std::set<std::string>& seen, const Entry& e,
                           const Secret& password, ApiKeysConfig& k) {
  const Mark password_at = e.value["password"] ? mark_of(e.value["password"]) : e.at;
  const Mark schema_at = e.value["schema"] ? mark_of(e.value["schema"]) : e.at;
  const bool postgres = k.store_location.kind == KeyStoreKind::Postgres;
  if (seen.count("store") == 0 || k.store.empty()) return;  // already reported
  if (seen.count("password") && !postgres) {
    r.error(password_at, "api_keys.password is for a postgresql:// store");
  } else if (seen.count("password") && !k.store_password.empty()) {
    r.error(password_at,
            "api_keys.password is given, and api_keys.store has a password too: keep one");
  } else if (seen.count("password")) {
    k.store_password = password;
  }
  if (seen.count("schema") && !postgres) {
    r.error(schema_at, "api_keys.schema is for a postgresql:// store");
  }
}

}  // namespace

void load_api_keys(YamlReader& r, const Entry& e, Config& config) {
  // Present from here on, even with errors: routes naming api_key are not reported again.
  auto& k = config.api_keys.emplace();
  k.mark = e.key_at;
  Secret password;
  auto seen = r.walk_map(
      e.value, e.at, "api_keys",
      {{"header", [&](const Entry& f) { read_key_header(r, f, config.identity, k); }},
       {"store", [&](const Entry& f) { read_store(r, f, k); }},
       {"password",
        [&](const Entry& f) {
          r.read_secret(f, {"api_keys.password", "password", "api_keys.password"}, password);
        }},
       {"schema",
        [&](const Entry& f) {
          r.read_nonempty_string(f, k.schema, [](const std::string& s) {
            std::string why = check_schema_name(s);
            return why.empty() ? why : "api_keys.schema " + why;
          });
        }},
       {"pepper", [&](const Entry& f) { read_pepper(r, f, k); }},
       r.uint_field("poll_interval_ms", k.poll_interval_ms, 100, 60000),
       {"gates_readiness", [&](const Entry& f) { r.read_bool(f, k.gates_readiness); }}});
  if (e.value.IsMap() || e.value.IsNull()) {
    r.require(seen, "store", e.at, "api_keys");
    r.require(seen, "pepper", e.at, "api_keys");
  }
  if (e.value.IsMap()) check_postgres_fields(r, seen, e, password, k);
}

}  // namespace portcullis::config
