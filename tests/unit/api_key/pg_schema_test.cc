// The PostgreSQL store's pure parts: the migrations' plan and SQL, the text conversions,
// and the import decision both stores share. The store itself runs against a real
// PostgreSQL in tests/integration/test_postgres_store.py.
#include "auth/api_key/pg_schema.h"

#include <gtest/gtest.h>

#include <cctype>
#include <string_view>

#include "auth/api_key/key_store.h"
#include "auth/api_key/pg_values.h"

namespace portcullis::auth::api_key {
namespace {

TEST(PgMigrations, VersionsStartAtOneAndFollowEachOther) {
  const auto& all = pg_schema::migrations();
  ASSERT_FALSE(all.empty());
  for (std::size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].version, static_cast<int>(i) + 1);
    EXPECT_FALSE(all[i].description.empty());
  }
  EXPECT_EQ(pg_schema::latest_version(), all.back().version);
}

TEST(PgMigrations, PendingIsWhatComesAfterTheCurrentVersion) {
  auto from_scratch = pg_schema::pending(0);
  ASSERT_EQ(from_scratch.size(), pg_schema::migrations().size());
  EXPECT_EQ(from_scratch.front()->version, 1);
  EXPECT_TRUE(pg_schema::pending(pg_schema::latest_version()).empty());
  EXPECT_TRUE(pg_schema::pending(pg_schema::latest_version() + 5).empty());
}

// True when TABLE, ON, INTO or REFERENCES (any case, a whole word) is followed by whitespace
// and then a bare word: an object named without its schema. (A scan rather than std::regex,
// whose GCC 12 headers trip -Wmaybe-uninitialized under the sanitizers.)
bool names_an_unqualified_object(std::string_view sql) {
  static constexpr std::string_view kWords[] = {"table", "on", "into", "references"};
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (std::size_t i = 0; i < sql.size(); ++i) {
    if (i > 0 && word_char(sql[i - 1])) continue;
    for (std::string_view w : kWords) {
      if (sql.size() - i < w.size()) continue;
      bool same = true;
      for (std::size_t k = 0; k < w.size() && same; ++k) {
        same = std::tolower(static_cast<unsigned char>(sql[i + k])) == w[k];
      }
      if (!same) continue;
      std::size_t j = i + w.size();
      const std::size_t after = j;
      while (j < sql.size() && std::isspace(static_cast<unsigned char>(sql[j]))) ++j;
      if (j > after && j < sql.size() && word_char(sql[j])) return true;
    }
  }
  return false;
}

TEST(PgMigrations, TheUnqualifiedNameScanFindsWhatItShould) {
  EXPECT_TRUE(names_an_unqualified_object("CREATE TABLE api_keys (id int)"));
  EXPECT_TRUE(names_an_unqualified_object("insert into\n  seq VALUES (1)"));
  EXPECT_FALSE(names_an_unqualified_object("CREATE TABLE \"staging\".api_keys (id int)"));
  EXPECT_FALSE(names_an_unqualified_object("SELECT maintable, version FROM x"));
}

TEST(PgMigrations, EveryObjectIsInTheConfiguredSchema) {
  // Tables and the objects they hold are named with the schema; nothing lands in `public`.
  for (const auto& m : pg_schema::migrations()) {
    const std::string sql = pg_schema::render(m.sql, "staging");
    EXPECT_EQ(sql.find("{schema}"), std::string::npos) << m.version;
    EXPECT_FALSE(names_an_unqualified_object(sql)) << m.version << ":\n" << sql;
    if (m.version == 1) {
      EXPECT_NE(sql.find("CREATE TABLE \"staging\".api_keys"), std::string::npos) << sql;
    }
  }
}

// Issue 13: version 2 adds the per-key rate plan to an existing table (rows keep '' = none).
TEST(PgMigrations, VersionTwoAddsTheRatePlanColumnInPlace) {
  ASSERT_GE(pg_schema::latest_version(), 2);
  const auto from_v1 = pg_schema::pending(1);
  ASSERT_FALSE(from_v1.empty());
  EXPECT_EQ(from_v1.front()->version, 2);
  const std::string sql = pg_schema::render(from_v1.front()->sql, "staging");
  EXPECT_NE(sql.find("ALTER TABLE \"staging\".api_keys ADD COLUMN rate_limit text NOT NULL "
                     "DEFAULT ''"),
            std::string::npos)
      << sql;
}

TEST(PgMigrations, OnlyHashesAreStored) {
  const std::string v1(pg_schema::migrations().front().sql);
  EXPECT_NE(v1.find("secret_hmac  bytea NOT NULL CHECK (octet_length(secret_hmac) = 32)"),
            std::string::npos);
  EXPECT_EQ(v1.find("secret "), std::string::npos);
}

TEST(PgMigrations, ChannelPerSchema) {
  EXPECT_EQ(pg_schema::channel("portcullis"), "portcullis_keys_portcullis");
  EXPECT_LE(pg_schema::channel(std::string(40, 'a')).size(), 63u);  // NAMEDATALEN - 1
}

TEST(PgValues, Bytea) {
  std::string out;
  ASSERT_TRUE(pg::decode_bytea("\\x00ff10Ab", out));
  EXPECT_EQ(out, std::string("\x00\xff\x10\xab", 4));
  EXPECT_EQ(pg::encode_bytea(out), "\\x00ff10ab");
  EXPECT_TRUE(pg::decode_bytea("\\x", out));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(pg::decode_bytea("00ff", out));
  EXPECT_FALSE(pg::decode_bytea("\\x0", out));
  EXPECT_FALSE(pg::decode_bytea("\\xzz", out));
  EXPECT_TRUE(out.empty());
}

TEST(PgValues, Integers) {
  std::int64_t v = 0;
  EXPECT_TRUE(pg::parse_int64("1750000000", v));
  EXPECT_EQ(v, 1750000000);
  EXPECT_TRUE(pg::parse_int64("-5", v));
  EXPECT_EQ(v, -5);
  EXPECT_FALSE(pg::parse_int64("", v));
  EXPECT_FALSE(pg::parse_int64("12a", v));
  EXPECT_FALSE(pg::parse_int64("99999999999999999999", v));
}

TEST(PgValues, ArraysAndCopyRows) {
  EXPECT_EQ(pg::text_array({"a", "b\"c", "d\\e"}), "{\"a\",\"b\\\"c\",\"d\\\\e\"}");
  EXPECT_EQ(pg::text_array({}), "{}");
  std::string row;
  pg::append_copy_row(row, {"a\tb", std::nullopt, "line\nbreak\\", "\\x00"});
  EXPECT_EQ(row, "a\\tb\t\\N\tline\\nbreak\\\\\t\\\\x00\n");
}

KeyRecord record(std::string hmac, KeyStatus status = KeyStatus::Active) {
  KeyRecord r;
  r.info.id = "abcdefghijkl";
  r.info.client_id = "partner";
  r.info.scopes = "a b";
  r.info.status = status;
  r.info.created_at = 100;
  r.secret_hmac = std::move(hmac);
  return r;
}

TEST(ImportPlan, IdempotentAndNeverOverwritesAnotherKey) {
  KeyRecord in = record(std::string(32, 'h')), w;
  EXPECT_EQ(plan_import(std::nullopt, in, w), ImportAction::Insert);
  EXPECT_EQ(plan_import(in, in, w), ImportAction::Unchanged) << "a second copy changes nothing";
  KeyRecord changed = in;
  changed.info.expires_at = 500;
  EXPECT_EQ(plan_import(in, changed, w), ImportAction::Update);
  EXPECT_EQ(w.info.expires_at, 500);
  EXPECT_EQ(plan_import(record(std::string(32, 'x')), in, w), ImportAction::Conflict);
  KeyRecord planned = in;
  planned.info.rate_limit = "1000/1m";
  EXPECT_EQ(plan_import(in, planned, w), ImportAction::Update) << "a plan alone is a change";
  EXPECT_EQ(w.info.rate_limit, "1000/1m");
}

TEST(ImportPlan, RevokedStaysRevokedAndLastUseIsTheLater) {
  KeyRecord there = record(std::string(32, 'h'), KeyStatus::Revoked);
  there.info.last_used_at = 900;
  KeyRecord in = record(std::string(32, 'h'), KeyStatus::Active);
  in.info.last_used_at = 800;
  KeyRecord w;
  EXPECT_EQ(plan_import(there, in, w), ImportAction::Unchanged);
  EXPECT_EQ(w.info.status, KeyStatus::Revoked);
  EXPECT_EQ(w.info.last_used_at, 900);
  ImportCounts counts;
  counts.count(ImportAction::Insert, "a");
  counts.count(ImportAction::Conflict, "b");
  counts.count(ImportAction::Conflict, "c");
  EXPECT_EQ(counts.added, 1u);
  EXPECT_EQ(counts.conflicts, 2u);
  EXPECT_EQ(counts.first_conflict, "b");
}

}  // namespace
}  // namespace portcullis::auth::api_key
