// The PostgreSQL key store's schema: versioned migrations, applied in order by
// `portcullis keys migrate` (and by `keys create` when the schema is missing), recorded in
// <schema>.schema_migrations. Every table lives in one configurable schema, so one database
// can hold several environments. Migrations only add (columns, tables, indexes): a gateway
// reads a schema newer than its own, so the CLI can migrate before the gateways upgrade.
//
// Tables (v1):
//   api_keys    one row per key: the HMAC of its secret (never the secret), client, status,
//               expiry, scopes, routes, CIDRs, label, last_used_at, and `seq`, the change
//               that last wrote it
//   change_seq  one row holding the last change's number. Every write transaction takes its
//               row lock first and gives its rows the next number, so writers commit in
//               sequence order and any snapshot holds every change up to its counter: a reader
//               asking for "seq > N" never misses a change committed late
//   meta        name -> bytes: the pepper's fingerprint
// v2: api_keys.rate_limit, the key's own rate plan ("1000/1m", '' for none)
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth::api_key::pg_schema {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;  // "{schema}" stands for the quoted schema name
};

// Every migration, versions 1, 2, ... in order.
const std::vector<Migration>& migrations();
int latest_version();

// What to apply to a schema at `current` (0: none yet), in order.
std::vector<const Migration*> pending(int current);

// `sql` with {schema} replaced by the quoted schema name.
std::string render(std::string_view sql, std::string_view schema);

// The notification channel of a schema's changes (at most 56 characters).
std::string channel(std::string_view schema);

}  // namespace portcullis::auth::api_key::pg_schema
