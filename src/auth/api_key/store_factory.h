// Opening a key store by its URL (SQLite or PostgreSQL), for the gateway's registry and for
// the `portcullis keys` CLI. The one place that chooses the KeyStore implementation.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "auth/api_key/key_registry.h"
#include "auth/api_key/key_store.h"
#include "config/config.h"

namespace portcullis::auth::api_key {

// Everything needed to reach a store: a config's api_keys section or a --store URL.
struct KeyStoreSpec {
  config::KeyStoreLocation location;
  config::Secret password;  // PostgreSQL: the URL's or api_keys.password
  std::string schema = "portcullis";
  std::string application_name = "portcullis";  // PostgreSQL: who is connected, for operators

  static KeyStoreSpec from(const config::ApiKeysConfig& c);
  // The store's name in messages (masked URL; with the schema for PostgreSQL).
  std::string describe() const;
};

enum class StoreUse {
  Gateway,          // no I/O now (PostgreSQL connects when first read); SQLite created if missing
  Existing,         // the CLI reading or changing keys: the store and its schema must exist
  CreateIfMissing,  // the CLI creating a key: the store or its schema is made when missing
};

// Null with `error` set when the store cannot be used.
std::unique_ptr<KeyStore> open_key_store(const KeyStoreSpec& spec, StoreUse use,
                                         std::string& error);

// `portcullis keys migrate`: creates the store's schema or upgrades it to the latest
// version. `version` receives the version it is at; `applied` what was done now.
bool migrate_key_store(const KeyStoreSpec& spec, int& version, std::vector<std::string>& applied,
                       std::string& error);

// The registry a running runtime holds, with the section it was opened for.
struct RunningRegistry {
  std::shared_ptr<KeyRegistry> registry;
  const config::ApiKeysConfig* config = nullptr;
};

// The registry for a config's api_keys section: the running one when it reads the same store
// with the same pepper (a reload then loads nothing and starts no second poller; the poll
// interval is updated), else a new one. SQLite: opened (created when missing) and loaded now.
// PostgreSQL: loaded now on a reload (a store that cannot be read refuses the reload); at
// start-up (`starting`) loaded in the background, so a database that is down delays the
// API-key routes (503) and /readyz, not the gateway. Null with `error` set on failure.
std::shared_ptr<KeyRegistry> open_registry(const config::ApiKeysConfig& config,
                                           const RunningRegistry& running, bool starting,
                                           std::string& error);

}  // namespace portcullis::auth::api_key
