#include "auth/api_key/store_factory.h"

#include <tuple>

#include "auth/api_key/pg_schema.h"
#include "auth/api_key/postgres_store.h"
#include "auth/api_key/sqlite_store.h"

namespace portcullis::auth::api_key {
namespace {

using config::KeyStoreKind;

// The gateway's answer deadline: a statement that hears nothing from the server for this long
// gives its connection up, and the registry reconnects (reading the store whole then). Its
// reads need no lock, and its usage writes only row locks that the CLI holds for a moment.
constexpr std::chrono::seconds kGatewayAnswerTimeout{10};

std::unique_ptr<PostgresKeyStore> postgres(const KeyStoreSpec& spec, bool gateway = false) {
  PostgresKeyStore::Options o;
  if (gateway) {
    o.connect.answer_timeout = kGatewayAnswerTimeout;
    o.connect.keepalives = true;
  }
  o.connect.params = spec.location.params;
  o.connect.password = spec.password;
  o.connect.display = spec.location.display;
  o.connect.application_name = spec.application_name;
  o.schema = spec.schema;
  return std::make_unique<PostgresKeyStore>(std::move(o));
}

// The CLI's PostgreSQL store: connected now, its schema there (made when `use` allows).
std::unique_ptr<KeyStore> open_postgres_for_cli(const KeyStoreSpec& spec, StoreUse use,
                                                std::string& error) {
  auto store = postgres(spec);
  int version = 0;
  if (!store->schema_version(version, error)) return nullptr;
  if (version < pg_schema::latest_version() && use == StoreUse::CreateIfMissing) {
    std::vector<std::string> applied;
    if (!store->migrate(version, applied, error)) return nullptr;
  } else if (version == 0) {
    error = store->describe() +
            ": no key store in this schema yet: run `portcullis keys migrate` (or create a key)";
    return nullptr;
  } else if (version < pg_schema::latest_version()) {
    error = store->describe() + ": the schema is at version " + std::to_string(version) +
            ": run `portcullis keys migrate` to bring it to " +
            std::to_string(pg_schema::latest_version());
    return nullptr;
  }
  return store;
}

}  // namespace

KeyStoreSpec KeyStoreSpec::from(const config::ApiKeysConfig& c) {
  KeyStoreSpec s;
  s.location = c.store_location;
  if (s.location.kind == KeyStoreKind::Sqlite && s.location.path.empty()) {
    s.location.path = c.store_path;  // a section filled in by hand (tests)
  }
  s.password = c.store_password;
  s.schema = c.schema;
  return s;
}

std::string KeyStoreSpec::describe() const {
  if (location.kind == KeyStoreKind::Sqlite) return "sqlite:" + location.path;
  return location.display + " (schema " + schema + ")";
}

std::unique_ptr<KeyStore> open_key_store(const KeyStoreSpec& spec, StoreUse use,
                                         std::string& error) {
  if (spec.location.kind == KeyStoreKind::Sqlite) {
    SqliteKeyStore::Options opts;
    opts.create = use != StoreUse::Existing;
    if (use == StoreUse::Gateway) opts.busy_timeout_ms = 2000;
    return SqliteKeyStore::open(spec.location.path, opts, error);
  }
  if (use == StoreUse::Gateway) return postgres(spec, true);
  return open_postgres_for_cli(spec, use, error);
}

bool migrate_key_store(const KeyStoreSpec& spec, int& version, std::vector<std::string>& applied,
                       std::string& error) {
  if (spec.location.kind == KeyStoreKind::Sqlite) {
    // SQLite migrates itself when opened.
    auto store = open_key_store(spec, StoreUse::CreateIfMissing, error);
    version = SqliteKeyStore::kSchemaVersion;
    return store != nullptr;
  }
  return postgres(spec)->migrate(version, applied, error);
}

std::shared_ptr<KeyRegistry> open_registry(const config::ApiKeysConfig& config,
                                           const RunningRegistry& running, bool starting,
                                           std::string& error) {
  const auto interval = std::chrono::milliseconds(config.poll_interval_ms);
  // The registry is the store's view under one pepper: the other settings can change under it.
  if (running.registry && running.config &&
      std::tie(running.config->store_location, running.config->store_path,
               running.config->store_password, running.config->schema, running.config->pepper) ==
          std::tie(config.store_location, config.store_path, config.store_password, config.schema,
                   config.pepper)) {
    running.registry->set_poll_interval(interval);
    return running.registry;
  }
  KeyStoreSpec spec = KeyStoreSpec::from(config);
  spec.application_name = "portcullis-gateway";
  auto store = open_key_store(spec, StoreUse::Gateway, error);
  if (!store) return nullptr;
  KeyRegistry::Options ropts;
  ropts.poll_interval = interval;
  ropts.load_in_background = starting && spec.location.kind == KeyStoreKind::Postgres;
  return KeyRegistry::create(std::move(store), config.pepper.reveal(), ropts, error);
}

}  // namespace portcullis::auth::api_key
