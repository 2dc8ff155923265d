#include "config/key_store_url.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "config/loader.h"

namespace portcullis::config {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

KeyStoreLocation parse_ok(std::string_view url) {
  KeyStoreLocation loc;
  std::string error;
  EXPECT_TRUE(parse_key_store_url(url, "/etc/portcullis", loc, error)) << url << ": " << error;
  return loc;
}

std::string parse_error(std::string_view url) {
  KeyStoreLocation loc;
  std::string error;
  EXPECT_FALSE(parse_key_store_url(url, "/etc/portcullis", loc, error)) << url;
  return error;
}

TEST(KeyStoreUrl, Sqlite) {
  auto loc = parse_ok("sqlite:///var/lib/portcullis/keys.db");
  EXPECT_EQ(loc.kind, KeyStoreKind::Sqlite);
  EXPECT_EQ(loc.path, "/var/lib/portcullis/keys.db");
  EXPECT_EQ(loc.display, "sqlite:///var/lib/portcullis/keys.db");
  EXPECT_EQ(parse_ok("sqlite:keys/k.db").path, "/etc/portcullis/keys/k.db");
  EXPECT_NE(parse_error("sqlite://host/k.db").find("not a host"), std::string::npos);
  // sqlite://old.db (the form `keys copy --from` is often given): old.db in the base folder.
  auto rel = parse_ok("sqlite://old.db");
  EXPECT_EQ(rel.kind, KeyStoreKind::Sqlite);
  EXPECT_EQ(rel.path, parse_ok("sqlite:old.db").path);
  EXPECT_NE(parse_error("sqlite://u@old.db").find("not a host"), std::string::npos);
  EXPECT_NE(parse_error("sqlite://old.db:5").find("not a host"), std::string::npos);
}

TEST(KeyStoreUrl, PostgresPartsBecomeLibpqKeywords) {
  auto loc = parse_ok("postgresql://gw:s3cret@db.internal:6432/keys");
  EXPECT_EQ(loc.kind, KeyStoreKind::Postgres);
  EXPECT_EQ(
      loc.params,
      (Params{{"host", "db.internal"}, {"port", "6432"}, {"dbname", "keys"}, {"user", "gw"}}));
  EXPECT_EQ(loc.password.reveal(), "s3cret");
  EXPECT_EQ(loc.display, "postgresql://gw:***@db.internal:6432/keys");

  // postgres:// too; no password: libpq's environment and ~/.pgpass apply.
  loc = parse_ok("postgres://gw@db/keys");
  EXPECT_TRUE(loc.password.empty());
  EXPECT_EQ(loc.display, "postgres://gw@db/keys");
}

TEST(KeyStoreUrl, PercentEncodingAndSocketsAndIpv6) {
  auto loc = parse_ok("postgresql://g%40w:p%2Fa%3Fss%40@%2Frun%2Fpostgresql/keys");
  EXPECT_EQ(loc.password.reveal(), "p/a?ss@");
  EXPECT_EQ(loc.params, (Params{{"host", "/run/postgresql"}, {"dbname", "keys"}, {"user", "g@w"}}));
  EXPECT_EQ(loc.display.find("p%2F"), std::string::npos) << loc.display;

  loc = parse_ok("postgresql://[::1]:5432/keys");
  EXPECT_EQ(loc.params[0], (std::pair<std::string, std::string>{"host", "::1"}));

  // The query's keywords are passed through; host/port there replace the URL's.
  loc = parse_ok("postgresql://gw@:5433/keys?host=/tmp/pg&sslmode=verify-full&sslrootcert=ca.pem");
  EXPECT_EQ(loc.params, (Params{{"port", "5433"},
                                {"dbname", "keys"},
                                {"user", "gw"},
                                {"host", "/tmp/pg"},
                                {"sslmode", "verify-full"},
                                {"sslrootcert", "/etc/portcullis/ca.pem"}}));
}

TEST(KeyStoreUrl, PostgresRefusals) {
  EXPECT_NE(parse_error("postgresql:keys").find("postgresql://user@host"), std::string::npos);
  EXPECT_NE(parse_error("postgresql://db/keys?sslmode=sometimes").find("sslmode must be"),
            std::string::npos);
  EXPECT_NE(parse_error("postgresql://db/keys?colour=blue").find("unknown connection parameter"),
            std::string::npos);
  EXPECT_NE(parse_error("postgresql://db/a/b").find("one segment"), std::string::npos);
  EXPECT_NE(parse_error("postgresql://db:0/keys").find("port"), std::string::npos);
  EXPECT_NE(parse_error("postgresql://db/keys?sslmode=require&sslmode=disable").find("twice"),
            std::string::npos);
  EXPECT_NE(parse_error("postgresql://db/keys#x").find("fragment"), std::string::npos);
  EXPECT_NE(parse_error("postgresql://db/keys?connect_timeout=soon").find("number"),
            std::string::npos);
  EXPECT_NE(parse_error("postgresql://u:a%0Ab@db/keys").find("control character"),
            std::string::npos);
  // A password in the query is refused, and the refusal does not repeat it.
  std::string e = parse_error("postgresql://db/keys?password=hunter2");
  EXPECT_NE(e.find("api_keys.password"), std::string::npos);
  EXPECT_EQ(e.find("hunter2"), std::string::npos);
  EXPECT_NE(parse_error("redis://db/0").find("unsupported key store 'redis'"), std::string::npos);
  // An '@' written as it is in a password: how to write it, and nothing of the password.
  e = parse_error("postgresql://gw:Top@Secret5@db/keys");
  EXPECT_NE(e.find("is written %40"), std::string::npos) << e;
  EXPECT_EQ(e.find("Top"), std::string::npos) << e;
  EXPECT_EQ(e.find("Secret5"), std::string::npos) << e;
}

TEST(KeyStoreUrl, MaskingNeverShowsThePassword) {
  EXPECT_EQ(mask_store_url("postgresql://u:pw@h/db"), "postgresql://u:***@h/db");
  EXPECT_EQ(mask_store_url("postgresql://u@h:5432/db"), "postgresql://u@h:5432/db");
  EXPECT_EQ(mask_store_url("sqlite:///var/keys.db"), "sqlite:///var/keys.db");
  // Characters a parser would stop at: everything from the first ':' to the last '@'.
  EXPECT_EQ(mask_store_url("postgresql://u:p/a?s#s@h/db"), "postgresql:***@h/db");
  EXPECT_EQ(mask_store_url("postgres:u:pw@h/db"),
            "postgres:***@h/db");  // no "//": from the first ':'
  // Query parameters named *password, however encoded.
  EXPECT_EQ(mask_store_url("postgresql://h/db?sslmode=require&password=pw&x=1"),
            "postgresql://h/db?sslmode=require&password=***&x=1");
  EXPECT_EQ(mask_store_url("postgresql://h/db?PASS%77ord=pw"), "postgresql://h/db?PASS%77ord=***");
  EXPECT_EQ(mask_store_url("postgresql://h/db?sslpassword=pw#f"),
            "postgresql://h/db?sslpassword=***#f");
  EXPECT_EQ(mask_store_url(""), "");
  EXPECT_EQ(mask_store_url("@"), "@");
}

TEST(KeyStoreUrl, SchemaNames) {
  EXPECT_EQ(check_schema_name("portcullis"), "");
  EXPECT_EQ(check_schema_name("prod_keys_2"), "");
  EXPECT_NE(check_schema_name(""), "");
  EXPECT_NE(check_schema_name("Prod"), "");
  EXPECT_NE(check_schema_name("2prod"), "");
  EXPECT_NE(check_schema_name("a-b"), "");
  EXPECT_NE(check_schema_name(std::string(41, 'a')), "");
  EXPECT_NE(check_schema_name("pg_keys"), "");
}

// ---- The api_keys section with a PostgreSQL store.

constexpr const char* kRoutes = R"(
upstreams:
  reports: { url: "http://127.0.0.1:9000" }
routes:
  - { name: reports, match: { path_prefix: /v1/reports }, upstream: reports, auth: [api_key] }
)";

LoadResult load(const std::string& api_keys) {
  setenv("PC_URL_TEST_PEPPER", "a-pepper-that-is-long-enough", 1);
  setenv("PC_URL_TEST_DB_PASSWORD", "from-the-environment", 1);
  return load_config_string(api_keys + kRoutes, "gw.yaml", "/etc/portcullis");
}

std::string errors(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += e.str() + "\n";
  return s;
}

TEST(ApiKeysPostgresConfig, PasswordFromAReference) {
  auto r = load(
      "api_keys:\n"
      "  store: postgresql://gw@db/keys?sslmode=verify-full\n"
      "  password: ${PC_URL_TEST_DB_PASSWORD}\n"
      "  schema: staging\n"
      "  pepper: ${PC_URL_TEST_PEPPER}\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  const auto& k = *r.config->api_keys;
  EXPECT_EQ(k.store_location.kind, KeyStoreKind::Postgres);
  EXPECT_EQ(k.store_password.reveal(), "from-the-environment");
  EXPECT_EQ(k.schema, "staging");
  EXPECT_EQ(k.store, "postgresql://gw@db/keys?sslmode=verify-full");
}

TEST(ApiKeysPostgresConfig, PasswordInTheUrlIsMaskedAndDefaultSchema) {
  auto r = load(
      "api_keys: { store: \"postgresql://gw:topsecret@db/keys\", pepper: "
      "\"${PC_URL_TEST_PEPPER}\" }\n");
  ASSERT_TRUE(r.ok()) << errors(r);
  EXPECT_EQ(r.config->api_keys->store_password.reveal(), "topsecret");
  EXPECT_EQ(r.config->api_keys->store, "postgresql://gw:***@db/keys");
  EXPECT_EQ(r.config->api_keys->schema, "portcullis");
}

TEST(ApiKeysPostgresConfig, ErrorsNeverEchoThePassword) {
  // Every scheme: an invalid store is echoed masked.
  for (const char* url : {"postgresql://gw:topsecret@db/keys?sslmode=maybe",
                          "postgresql://gw:topsecret@db/a/b", "mysql://gw:topsecret@db/keys",
                          "sqlite://gw:topsecret@db/keys", "postgresql://gw:top secret@db/keys"}) {
    auto r =
        load(std::string("api_keys:\n  store: \"") + url + "\"\n  pepper: ${PC_URL_TEST_PEPPER}\n");
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(errors(r).find("topsecret"), std::string::npos) << errors(r);
    EXPECT_EQ(errors(r).find("top secret"), std::string::npos) << errors(r);
    EXPECT_NE(errors(r).find("gw.yaml:2:10: invalid api_keys.store '"), std::string::npos)
        << errors(r);
    EXPECT_NE(errors(r).find(":***@db"), std::string::npos) << errors(r);
  }
}

TEST(ApiKeysPostgresConfig, FieldsThatBelongToPostgres) {
  auto r = load(
      "api_keys:\n  store: sqlite:k.db\n  password: ${PC_URL_TEST_DB_PASSWORD}\n"
      "  schema: prod\n  pepper: ${PC_URL_TEST_PEPPER}\n");
  EXPECT_NE(errors(r).find("gw.yaml:3:13: api_keys.password is for a postgresql:// store"),
            std::string::npos)
      << errors(r);
  EXPECT_NE(errors(r).find("gw.yaml:4:11: api_keys.schema is for a postgresql:// store"),
            std::string::npos)
      << errors(r);

  r = load(
      "api_keys:\n  store: postgresql://gw:x@db/keys\n  password: ${PC_URL_TEST_DB_PASSWORD}\n"
      "  pepper: ${PC_URL_TEST_PEPPER}\n");
  EXPECT_NE(errors(r).find("gw.yaml:3:13: api_keys.password is given, and api_keys.store has a "
                           "password too"),
            std::string::npos)
      << errors(r);

  r = load(
      "api_keys:\n  store: postgresql://db/keys\n  password: literal-password\n"
      "  pepper: ${PC_URL_TEST_PEPPER}\n");
  EXPECT_NE(errors(r).find("api_keys.password must be a reference"), std::string::npos)
      << errors(r);
  EXPECT_EQ(errors(r).find("literal-password"), std::string::npos) << errors(r);

  r = load(
      "api_keys:\n  store: postgresql://db/keys\n  schema: Prod\n"
      "  pepper: ${PC_URL_TEST_PEPPER}\n");
  EXPECT_NE(errors(r).find("gw.yaml:3:11: api_keys.schema must be 1-40 lower-case"),
            std::string::npos)
      << errors(r);
}

}  // namespace
}  // namespace portcullis::config
