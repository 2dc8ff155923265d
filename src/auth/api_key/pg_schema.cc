#include "auth/api_key/pg_schema.h"

#include "auth/api_key/pg_values.h"

namespace portcullis::auth::api_key::pg_schema {
namespace {

constexpr std::string_view kV1 = R"sql(
CREATE TABLE {schema}.api_keys (
  id           text PRIMARY KEY,
  secret_hmac  bytea NOT NULL CHECK (octet_length(secret_hmac) = 32),
  client_id    text NOT NULL,
  status       text NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
  created_at   bigint NOT NULL,
  expires_at   bigint,
  scopes       text NOT NULL DEFAULT '',
  routes       text NOT NULL DEFAULT '',
  cidrs        text NOT NULL DEFAULT '',
  label        text NOT NULL DEFAULT '',
  last_used_at bigint,
  seq          bigint NOT NULL
);
CREATE INDEX api_keys_seq ON {schema}.api_keys (seq);
CREATE INDEX api_keys_client ON {schema}.api_keys (client_id);
CREATE TABLE {schema}.change_seq (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  seq      bigint NOT NULL
);
INSERT INTO {schema}.change_seq (only_row, seq) VALUES (true, 0);
CREATE TABLE {schema}.meta (
  name  text PRIMARY KEY,
  value bytea NOT NULL
);
)sql";

// A key's own rate plan (issue 13), "1000/1m"; '' for none. Read by gateways of this version
// only once the schema has it (postgres_store.cc asks for '' before).
constexpr std::string_view kV2 = R"sql(
ALTER TABLE {schema}.api_keys ADD COLUMN rate_limit text NOT NULL DEFAULT '';
)sql";

}  // namespace

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kAll = {
      {1, "api_keys, change_seq and meta", kV1},
      {2, "api_keys.rate_limit (per-key rate plans)", kV2},
      // Next: {2, "what it adds", kV2} -- only ever add, never rewrite an applied one.
  };
  return kAll;
}

int latest_version() {
  return migrations().back().version;
}

std::vector<const Migration*> pending(int current) {
  std::vector<const Migration*> out;
  for (const auto& m : migrations()) {
    if (m.version > current) out.push_back(&m);
  }
  return out;
}

std::string render(std::string_view sql, std::string_view schema) {
  static constexpr std::string_view kPlaceholder = "{schema}.";
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t at = sql.find(kPlaceholder, pos);
    if (at == std::string_view::npos) break;
    out += sql.substr(pos, at - pos);
    out += pg::qualified(schema, "");
    pos = at + kPlaceholder.size();
  }
  out += sql.substr(pos);
  return out;
}

std::string channel(std::string_view schema) {
  return "portcullis_keys_" + std::string(schema);
}

}  // namespace portcullis::auth::api_key::pg_schema
