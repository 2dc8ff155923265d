// Issue 13 item 3: a key's own rate plan in the stores: written by create, changed by update
// (a new seq, so running gateways see it), carried by keys copy (plan_import), and a SQLite
// file from before the plan existed upgraded in place. The PostgreSQL side runs against a
// real server in tests/integration/test_rate_plans.py.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "auth/api_key/api_key_authenticator.h"
#include "auth/api_key/key_format.h"
#include "auth/api_key/sqlite_store.h"

namespace portcullis::auth::api_key {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kPepper = "rate-plan-test-pepper-0123456789";

// The file a version-1 portcullis wrote (its schema, word for word, and one key).
constexpr const char* kVersionOneFile = R"sql(
CREATE TABLE api_keys (
  id           TEXT PRIMARY KEY NOT NULL,
  secret_hmac  BLOB NOT NULL CHECK (length(secret_hmac) = 32),
  client_id    TEXT NOT NULL,
  status       TEXT NOT NULL CHECK (status IN ('active', 'disabled', 'revoked')),
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER,
  scopes       TEXT NOT NULL DEFAULT '',
  routes       TEXT NOT NULL DEFAULT '',
  cidrs        TEXT NOT NULL DEFAULT '',
  label        TEXT NOT NULL DEFAULT '',
  last_used_at INTEGER,
  seq          INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX api_keys_seq ON api_keys (seq);
CREATE INDEX api_keys_client ON api_keys (client_id);
CREATE TABLE portcullis_meta (
  name  TEXT PRIMARY KEY NOT NULL,
  value BLOB NOT NULL
) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

class RatePlanStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portcullis-plans-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    path = dir + "/keys.db";
  }
  void TearDown() override { fs::remove_all(dir); }

  std::unique_ptr<SqliteKeyStore> open(const std::string& at) {
    std::string error;
    auto s = SqliteKeyStore::open(at, {}, error);
    EXPECT_TRUE(s) << error;
    return s;
  }

  // A key for `client` with `plan`; returns the full key.
  std::string create(KeyStore& store, const std::string& client, std::string plan) {
    GeneratedKey g;
    EXPECT_TRUE(generate_key(g));
    std::string error;
    auto h = SecretHasher::create(kPepper, error);
    NewKey k;
    k.id = g.id;
    k.client_id = client;
    k.created_at = 1700000000;
    k.rate_limit = std::move(plan);
    EXPECT_TRUE(h->hash(g.secret, k.secret_hmac));
    EXPECT_EQ(store.create(k, error), WriteResult::Ok) << error;
    return g.key;
  }

  KeyInfo get(KeyStore& store, const std::string& id) {
    std::optional<KeyInfo> k;
    std::string error;
    EXPECT_TRUE(store.get(id, k, error)) << error;
    return k.value_or(KeyInfo{});
  }

  static std::string id_of(const std::string& key) { return key.substr(4, 12); }
  static KeyUpdate plan(std::string text) { return KeyUpdate{std::move(text)}; }

  std::string dir, path;
};

TEST_F(RatePlanStoreTest, CreateListAndUpdateRoundTrip) {
  auto store = open(path);
  const std::string id = id_of(create(*store, "partner-123", "1000/1m"));
  const std::string plain = id_of(create(*store, "other", ""));
  EXPECT_EQ(get(*store, id).rate_limit, "1000/1m");
  EXPECT_EQ(get(*store, plain).rate_limit, "");

  const std::int64_t before = std::max(get(*store, id).seq, get(*store, plain).seq);
  std::string error;
  ASSERT_EQ(store->update(id, plan("500/1m"), error), WriteResult::Ok) << error;
  EXPECT_EQ(get(*store, id).rate_limit, "500/1m");
  EXPECT_GT(get(*store, id).seq, before) << "a change the gateways' polls see";

  // What a gateway's poll reads.
  std::vector<std::pair<std::string, std::string>> seen;
  PollResult r = store->changes_since(before, [&](const KeyRow& row) {
    seen.emplace_back(std::string(row.id), std::string(row.rate_limit));
  });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, std::string>>{{id, "500/1m"}}));

  // The same plan again changes nothing, not even the seq.
  const std::int64_t after = get(*store, id).seq;
  ASSERT_EQ(store->update(id, plan("500/1m"), error), WriteResult::Ok);
  EXPECT_EQ(get(*store, id).seq, after);
  // An update naming nothing leaves the key alone.
  ASSERT_EQ(store->update(id, KeyUpdate{}, error), WriteResult::Ok);
  EXPECT_EQ(get(*store, id).rate_limit, "500/1m");
  // "" removes the plan.
  ASSERT_EQ(store->update(id, plan(""), error), WriteResult::Ok);
  EXPECT_EQ(get(*store, id).rate_limit, "");
  EXPECT_GT(get(*store, id).seq, after);
}

TEST_F(RatePlanStoreTest, UpdateRefusesUnknownAndRevokedKeys) {
  auto store = open(path);
  std::string error;
  EXPECT_EQ(store->update("AAAAAAAAAAAA", plan("1/1s"), error), WriteResult::NotFound);
  EXPECT_NE(error.find("no key"), std::string::npos) << error;
  const std::string id = id_of(create(*store, "c", "5/1m"));
  ASSERT_EQ(store->set_status(id, KeyStatus::Disabled, error), WriteResult::Ok);
  EXPECT_EQ(store->update(id, plan("6/1m"), error), WriteResult::Ok) << "a disabled key may";
  ASSERT_EQ(store->set_status(id, KeyStatus::Revoked, error), WriteResult::Ok);
  EXPECT_EQ(store->update(id, plan("7/1m"), error), WriteResult::Refused);
  EXPECT_NE(error.find("revoked"), std::string::npos) << error;
  EXPECT_EQ(get(*store, id).rate_limit, "6/1m");
}

// A database file written before plans existed is upgraded when opened: its keys keep working
// without a plan, and can be given one.
TEST_F(RatePlanStoreTest, VersionOneFileIsMigratedInPlace) {
  const std::string id = "AbCdEfGhIjKl";
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, kVersionOneFile, nullptr, nullptr, nullptr), SQLITE_OK);
    const std::string insert =
        "INSERT INTO api_keys (id, secret_hmac, client_id, status, created_at, seq) VALUES ('" +
        id + "', zeroblob(32), 'legacy', 'active', 1600000000, 7)";
    ASSERT_EQ(sqlite3_exec(db, insert.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  struct stat before {};
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  auto store = open(path);
  ASSERT_TRUE(store);
  KeyInfo legacy = get(*store, id);
  EXPECT_EQ(legacy.client_id, "legacy");
  EXPECT_EQ(legacy.rate_limit, "");
  EXPECT_EQ(legacy.seq, 7);
  std::string error;
  ASSERT_EQ(store->update(id, plan("3/1m"), error), WriteResult::Ok) << error;
  EXPECT_EQ(get(*store, id).rate_limit, "3/1m");
  store.reset();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), SqliteKeyStore::kSchemaVersion);
  EXPECT_EQ(SqliteKeyStore::kSchemaVersion, 2);
  sqlite3_finalize(st);
  sqlite3_close(db);
  struct stat after {};
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  EXPECT_EQ(after.st_ino, before.st_ino) << "the same file, upgraded in place";
  // Opening the upgraded file again migrates nothing more.
  auto again = open(path);
  ASSERT_TRUE(again);
  EXPECT_EQ(get(*again, id).rate_limit, "3/1m");
}

// A migration step that fails (here: the column is there already, in a file still marked
// version 1) is rolled back whole and reported; the file is left as it was.
TEST_F(RatePlanStoreTest, FailedMigrationIsRolledBackAndReported) {
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, kVersionOneFile, nullptr, nullptr, nullptr), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE api_keys ADD COLUMN rate_limit TEXT", nullptr, nullptr,
                           nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::string error;
  EXPECT_FALSE(SqliteKeyStore::open(path, {}, error));
  EXPECT_NE(error.find("cannot add the rate_limit column"), std::string::npos) << error;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), 1);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

// keys copy: plan_import treats a different plan as an update, and the SQLite import writes it.
TEST_F(RatePlanStoreTest, CopyCarriesThePlan) {
  auto from = open(path);
  const std::string id = id_of(create(*from, "partner", "1000/1m"));
  std::vector<KeyRecord> records;
  ASSERT_TRUE(from->load_all([&](const KeyRow& r) { records.push_back(KeyRecord::from(r)); }).ok);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].info.rate_limit, "1000/1m");

  auto to = open(dir + "/copy.db");
  ImportCounts counts;
  std::string error;
  ASSERT_EQ(to->import_keys(records, counts, error), WriteResult::Ok) << error;
  EXPECT_EQ(counts.added, 1u);
  EXPECT_EQ(get(*to, id).rate_limit, "1000/1m");

  ASSERT_EQ(from->update(id, plan("10/1s"), error), WriteResult::Ok);
  records.clear();
  ASSERT_TRUE(from->load_all([&](const KeyRow& r) { records.push_back(KeyRecord::from(r)); }).ok);
  ImportCounts again;
  ASSERT_EQ(to->import_keys(records, again, error), WriteResult::Ok) << error;
  EXPECT_EQ(again.updated, 1u) << "the plan alone differs";
  EXPECT_EQ(get(*to, id).rate_limit, "10/1s");
  ImportCounts third;
  ASSERT_EQ(to->import_keys(records, third, error), WriteResult::Ok) << error;
  EXPECT_EQ(third.unchanged, 1u);
}

// The gateway's view: a registry over the SQLite file gives the identity the key's plan and
// picks up an update at its next poll.
TEST_F(RatePlanStoreTest, RegistrySeesAnUpdateAtItsNextPoll) {
  auto cli = open(path);
  const std::string key = create(*cli, "partner", "3/1m");
  std::string error;
  KeyRegistry::Options o;
  o.background = false;
  auto registry = KeyRegistry::create(open(path), kPepper, o, error);
  ASSERT_TRUE(registry) << error;
  ApiKeyAuthenticator auth(registry, "X-API-Key", std::nullopt);
  config::RouteConfig route;
  route.name = "partner";
  auto identity_now = [&] {
    boost::beast::http::fields h;
    h.set("X-API-Key", key);
    AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "req", route};
    AuthResult r = auth.decide(req, 1800000000);
    EXPECT_EQ(r.status, Status::Ok) << r.description;
    return r.identity;
  };
  EXPECT_EQ(identity_now().rate_plan, (identity::RatePlan{3, 60}));
  ASSERT_EQ(cli->update(id_of(key), plan("100/1m"), error), WriteResult::Ok) << error;
  ASSERT_TRUE(registry->poll_once());
  EXPECT_EQ(identity_now().rate_plan, (identity::RatePlan{100, 60}));
  ASSERT_EQ(cli->update(id_of(key), plan(""), error), WriteResult::Ok) << error;
  ASSERT_TRUE(registry->poll_once());
  EXPECT_FALSE(identity_now().rate_plan);
}

}  // namespace
}  // namespace portcullis::auth::api_key
