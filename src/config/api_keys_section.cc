// `api_keys`: where the key registry lives (config/key_store_url.h), the header keys come in,
// the pepper.
#include "config/sections.h"
#include "config/syntax.h"

namespace portcullis::config {
namespace {

void read_key_header(YamlReader& r, const Entry& f, ApiKeysConfig& k) {
  std::string h;
  if (!r.read_header_name(f, h)) return;
  if (header_key(h) == "authorization") {
    r.error(f.at,
            "api_keys.header cannot be Authorization: 'Authorization: ApiKey "
            "<key>' is always accepted");
    return;
  }
  if (const auto why = reserved_header(h); !why.empty()) {
    r.error(f.at, "api_keys.header '" + h + "' " + std::string(why));
    return;
  }
  k.header = h;
  k.header_at = f.at;
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
      {{"header", [&](const Entry& f) { read_key_header(r, f, k); }},
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

// The sanitizer removes identity headers, the signed context's header, the headers JWT
// claims are written to and identity.strip_inbound before authentication runs, so a key sent
// in one of them would never be seen. The header compared is the one in force, the default
// included; the message points at api_keys.header where it is written, else at api_keys.
void check_api_key_header(YamlReader& r, const Config& config) {
  if (!config.api_keys) return;
  const auto& k = *config.api_keys;
  const std::string key = header_key(k.header);
  const Mark at = k.header_at.line != 0 ? k.header_at : k.mark;
  const std::string named = k.header_at.line != 0 ? "api_keys.header '" + k.header + "'"
                                                  : "api_keys reads keys from '" + k.header +
                                                        "' (the default api_keys.header), which";
  auto clash = [&](const std::string& what) { r.error(at, named + " is " + what); };
  const auto& ids = config.identity.headers;
  for (const std::string* name : {&ids.user_id, &ids.client_id, &ids.scopes, &ids.roles,
                                  &ids.auth_method, &ids.request_id, &ids.cert_thumbprint}) {
    if (!name->empty() && header_key(*name) == key) return clash("an identity header");
  }
  const auto& sc = config.identity.signed_context;
  if (sc && header_key(sc->header) == key) return clash("identity.signed_context.header");
  for (const auto& name : config.identity.strip_inbound) {
    if (header_key(name) == key) return clash("listed in identity.strip_inbound");
  }
  for (const auto& [provider, p] : config.jwt_providers) {
    for (const auto& [claim, header] : p.claims_to_headers) {
      if (header_key(header) == key) {
        return clash("where jwt_providers." + provider + " writes claim '" + claim + "'");
      }
    }
  }
}

}  // namespace portcullis::config
