// Where the key registry lives: "sqlite:///abs/keys.db", "sqlite:relative/keys.db" or
// "postgresql://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=...]" (also "postgres://"). The one
// parser of store URLs (the config's api_keys.store and the CLI's --store, --from, --to), and
// the one place that masks a password in one: messages, logs and metrics show
// `display`/mask_store_url(), never the URL as written.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/secret.h"

namespace portcullis::config {

enum class KeyStoreKind : std::uint8_t { Sqlite, Postgres };

struct KeyStoreLocation {
  KeyStoreKind kind = KeyStoreKind::Sqlite;
  std::string path;  // SQLite: the file, absolute (relative paths resolved against base_dir)
  // PostgreSQL: libpq connection keywords and values in a fixed order (host, port, dbname,
  // user, then the query's), never the password. Relative certificate paths are resolved.
  std::vector<std::pair<std::string, std::string>> params;
  Secret password;      // PostgreSQL: from the URL's user part; empty when none
  std::string display;  // the URL as written with any password masked: for every message

  friend bool operator==(const KeyStoreLocation&, const KeyStoreLocation&) = default;
};

// Parses a store URL. False with `error` set (never containing the password) when the URL
// is not a supported store.
bool parse_key_store_url(std::string_view url, const std::string& base_dir, KeyStoreLocation& out,
                         std::string& error);

// The URL with any password replaced by "***": the user part's (scheme://user:***@host) and
// any query parameter whose name ends in "password". Works on any text, parseable or not:
// when in doubt it masks more.
std::string mask_store_url(std::string_view url);

// A PostgreSQL schema name the gateway may use: [a-z_][a-z0-9_]*, at most 40 characters
// (the notification channel is named after it), not pg_*. Empty when fine, else the problem.
std::string check_schema_name(std::string_view name);

}  // namespace portcullis::config
