// The PostgreSQL store's pure parts: the migrations' plan and SQL, the text conversions,
// and the import decision both stores share. The store itself runs against a real
// PostgreSQL in tests/integration/test_postgres_store.py.
#include "auth/api_key/pg_schema.h"

#include <gtest/gtest.h>

#include <regex>

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

TEST(PgMigrations, EveryObjectIsInTheConfiguredSchema) {
  // Tables and the objects they hold are named with the schema; nothing lands in `public`.
  const std::regex unqualified(R"(\b(TABLE|ON|INTO|REFERENCES)\s+(?!\"staging\"\.)\w)",
                               std::regex::icase);
  for (const auto& m : pg_schema::migrations()) {
    const std::string sql = pg_schema::render(m.sql, "staging");
    EXPECT_EQ(sql.find("{schema}"), std::string::npos) << m.version;
    EXPECT_FALSE(std::regex_search(sql, unqualified)) << m.version << ":\n" << sql;
    EXPECT_NE(sql.find("CREATE TABLE \"staging\".api_keys"), std::string::npos) << sql;
  }
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
