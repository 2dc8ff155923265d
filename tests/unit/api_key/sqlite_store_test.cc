#include "auth/api_key/sqlite_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "auth/api_key/api_key_authenticator.h"
#include "auth/api_key/key_format.h"
#include "auth/api_key/store_factory.h"

namespace portcullis::auth::api_key {
namespace {

namespace fs = std::filesystem;
constexpr std::string_view kPepper = "sqlite-test-pepper-0123456789";

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/portcullis-keys-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    path = dir + "/keys.db";
  }
  void TearDown() override { fs::remove_all(dir); }

  std::unique_ptr<SqliteKeyStore> open(bool create = true) {
    std::string error;
    SqliteKeyStore::Options o;
    o.create = create;
    auto s = SqliteKeyStore::open(path, o, error);
    EXPECT_TRUE(s) << error;
    return s;
  }

  // A key for `client`; returns the full key.
  std::string create(KeyStore& store, const std::string& client, NewKey extra = {}) {
    GeneratedKey g;
    EXPECT_TRUE(generate_key(g));
    std::string error;
    auto h = SecretHasher::create(kPepper, error);
    extra.id = g.id;
    extra.client_id = client;
    if (extra.created_at == 0) extra.created_at = 1700000000;
    EXPECT_TRUE(h->hash(g.secret, extra.secret_hmac));
    EXPECT_EQ(store.create(extra, error), WriteResult::Ok) << error;
    return g.key;
  }

  std::vector<KeyInfo> all(KeyStore& store) {
    std::vector<KeyInfo> out;
    std::string error;
    EXPECT_TRUE(store.list(std::nullopt, out, error)) << error;
    return out;
  }

  std::string dir, path;
};

TEST_F(SqliteStoreTest, CreatesSchemaWalAndPrivateFile) {
  auto store = open();
  ASSERT_TRUE(store);
  EXPECT_EQ((fs::status(path).permissions() & fs::perms::all),
            fs::perms::owner_read | fs::perms::owner_write);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto one = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
    std::string v;
    if (sqlite3_step(st) == SQLITE_ROW)
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  };
  EXPECT_EQ(one("PRAGMA user_version"), "2");
  EXPECT_EQ(one("PRAGMA journal_mode"), "wal");
  sqlite3_close(db);
  // Opening again is a no-op migration.
  store.reset();
  EXPECT_TRUE(open());
}

TEST_F(SqliteStoreTest, RefusesANewerSchemaAndAMissingFileWithoutCreate) {
  std::string error;
  SqliteKeyStore::Options o;
  o.create = false;
  EXPECT_FALSE(SqliteKeyStore::open(path, o, error));
  EXPECT_NE(error.find("No such file"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(path));
  open();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "PRAGMA user_version = 9", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  EXPECT_FALSE(SqliteKeyStore::open(path, {}, error));
  EXPECT_NE(error.find("newer"), std::string::npos) << error;
}

// Issue 11: `check` judges the store's location as `run` will need it, creating nothing.
TEST_F(SqliteStoreTest, CheckLocationNamesTheFolderAndTheOsReason) {
  std::string why;
  EXPECT_TRUE(SqliteKeyStore::check_location(path, why)) << why;
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(SqliteKeyStore::check_location(dir + "/missing/keys.db", why));
  EXPECT_EQ(why, "sqlite:" + dir + "/missing/keys.db: folder " + dir +
                     "/missing: No such file or directory");
  std::ofstream(dir + "/plain") << "x";
  EXPECT_FALSE(SqliteKeyStore::check_location(dir + "/plain/keys.db", why));
  EXPECT_EQ(why, "sqlite:" + dir + "/plain/keys.db: folder " + dir + "/plain: Not a directory");
  fs::create_directory(dir + "/sub");
  EXPECT_FALSE(SqliteKeyStore::check_location(dir + "/sub", why));
  EXPECT_EQ(why, "sqlite:" + dir + "/sub: not a regular file");
  // open() says the same, before SQLite is asked.
  EXPECT_FALSE(SqliteKeyStore::open(dir + "/missing/keys.db", {}, why));
  EXPECT_NE(why.find("folder " + dir + "/missing: No such file or directory"), std::string::npos)
      << why;
  open();
  EXPECT_TRUE(SqliteKeyStore::check_location(path, why)) << why;
}

TEST_F(SqliteStoreTest, NeverStoresTheSecret) {
  auto store = open();
  std::string key = create(*store, "partner-123");
  std::string secret = key.substr(17, 43);
  store.reset();
  for (const char* suffix : {"", "-wal"}) {
    std::ifstream f(path + suffix, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(secret), std::string::npos) << suffix;
    EXPECT_EQ(bytes.find(key), std::string::npos) << suffix;
  }
}

TEST_F(SqliteStoreTest, ChangesSinceSeesExactlyWhatChanged) {
  auto store = open();
  std::string a = create(
      *store, "a", {.scopes = "s1 s2", .routes = "r1", .cidrs = "10.0.0.0/8", .label = "first"});
  std::string b = create(*store, "b", {.expires_at = 1900000000});
  std::vector<std::string> seen;
  PollResult r = store->load_all([&](const KeyRow& row) { seen.emplace_back(row.id); });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(seen.size(), 2u);
  EXPECT_EQ(r.max_seq, 2);

  seen.clear();
  r = store->changes_since(2, [&](const KeyRow& row) { seen.emplace_back(row.id); });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_FALSE(r.reset);
  EXPECT_TRUE(seen.empty());

  std::string error;
  ASSERT_EQ(store->set_status(a.substr(4, 12), KeyStatus::Disabled, error), WriteResult::Ok);
  std::vector<KeyInfo> rows;
  r = store->changes_since(2, [&](const KeyRow& row) { rows.push_back(KeyInfo::from(row)); });
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].id, a.substr(4, 12));
  EXPECT_EQ(rows[0].status, KeyStatus::Disabled);
  EXPECT_EQ(rows[0].scopes, "s1 s2");
  EXPECT_EQ(rows[0].routes, "r1");
  EXPECT_EQ(rows[0].cidrs, "10.0.0.0/8");
  EXPECT_EQ(rows[0].label, "first");
  EXPECT_EQ(rows[0].seq, 3);
  EXPECT_EQ(r.max_seq, 3);

  // A second connection (the CLI) writes; the first (the gateway) sees it.
  auto cli = open();
  std::string c = create(*cli, "c");
  rows.clear();
  r = store->changes_since(3, [&](const KeyRow& row) { rows.push_back(KeyInfo::from(row)); });
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].client_id, "c");
  EXPECT_FALSE(rows[0].expires_at);
}

TEST_F(SqliteStoreTest, StatusRules) {
  auto store = open();
  std::string id = create(*store, "a").substr(4, 12);
  std::string error;
  EXPECT_EQ(store->set_status("nosuchkey123", KeyStatus::Disabled, error), WriteResult::NotFound);
  EXPECT_EQ(store->set_status(id, KeyStatus::Disabled, error), WriteResult::Ok);
  EXPECT_EQ(store->set_status(id, KeyStatus::Active, error), WriteResult::Ok);
  EXPECT_EQ(store->set_status(id, KeyStatus::Revoked, error), WriteResult::Ok);
  EXPECT_EQ(store->set_status(id, KeyStatus::Active, error), WriteResult::Refused);
  EXPECT_NE(error.find("final"), std::string::npos);
  EXPECT_EQ(store->set_status(id, KeyStatus::Disabled, error), WriteResult::Refused);
  std::optional<KeyInfo> k;
  ASSERT_TRUE(store->get(id, k, error));
  ASSERT_TRUE(k);
  EXPECT_EQ(k->status, KeyStatus::Revoked);
  EXPECT_EQ(k->seq, 4) << "every change bumps seq";
}

TEST_F(SqliteStoreTest, DuplicateIdIsAConflict) {
  auto store = open();
  NewKey k;
  k.id = "AAAAAAAAAAAA";
  k.client_id = "x";
  std::string error;
  EXPECT_EQ(store->create(k, error), WriteResult::Ok);
  EXPECT_EQ(store->create(k, error), WriteResult::Conflict);
}

TEST_F(SqliteStoreTest, UsageIsWrittenWithoutChangingSeq) {
  auto store = open();
  std::string id = create(*store, "a").substr(4, 12);
  std::string error;
  ASSERT_TRUE(store->record_usage({id, "unknownid123"}, 1750000000, error)) << error;
  std::optional<KeyInfo> k;
  ASSERT_TRUE(store->get(id, k, error));
  EXPECT_EQ(k->last_used_at, 1750000000);
  EXPECT_EQ(k->seq, 1);
  // Never goes back in time.
  ASSERT_TRUE(store->record_usage({id}, 1740000000, error));
  ASSERT_TRUE(store->get(id, k, error));
  EXPECT_EQ(k->last_used_at, 1750000000);
}

TEST_F(SqliteStoreTest, PepperIsBoundToTheStore) {
  auto store = open();
  std::string error;
  auto a = SecretHasher::create(kPepper, error);
  auto b = SecretHasher::create("another-pepper-0123456789", error);
  Digest fa, fb;
  a->fingerprint(fa);
  b->fingerprint(fb);
  EXPECT_TRUE(store->bind_pepper(fa, error)) << error;
  EXPECT_TRUE(store->bind_pepper(fa, error)) << error;
  EXPECT_FALSE(store->bind_pepper(fb, error));
  EXPECT_NE(error.find("pepper differs"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, DeletedFileIsAnErrorAndARestoredOneAReset) {
  auto store = open();
  std::string a = create(*store, "a");
  auto noop = [](const KeyRow&) {};
  ASSERT_TRUE(store->changes_since(1, noop).ok);
  // A backup as the docs say to take one (a plain copy of a WAL database can miss the
  // latest transactions).
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    std::string sql = "VACUUM INTO '" + dir + "/backup.db'";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  fs::remove(path);
  fs::remove(path + "-wal");
  fs::remove(path + "-shm");
  PollResult r = store->changes_since(1, noop);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("No such file"), std::string::npos) << r.error;
  // Not recreated behind the operator's back.
  EXPECT_FALSE(fs::exists(path));

  // Garbage in its place.
  { std::ofstream(path) << "this is not a database, it is a text file of some length....."; }
  r = store->changes_since(1, noop);
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  fs::remove(path);

  fs::copy_file(dir + "/backup.db", path);
  std::vector<std::string> seen;
  r = store->changes_since(1, [&](const KeyRow& row) { seen.emplace_back(row.id); });
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_TRUE(r.reset);
  EXPECT_EQ(seen, std::vector<std::string>{a.substr(4, 12)});
}

TEST_F(SqliteStoreTest, SeqGoingBackwardsIsAReset) {
  auto store = open();
  create(*store, "a");
  create(*store, "b");
  std::vector<std::string> seen;
  PollResult r = store->changes_since(10, [&](const KeyRow& row) { seen.emplace_back(row.id); });
  ASSERT_TRUE(r.ok);
  EXPECT_TRUE(r.reset);
  EXPECT_EQ(seen.size(), 2u);
}

TEST_F(SqliteStoreTest, RotateExpiresOldKeysAndCopiesSettings) {
  auto store = open();
  create(*store, "rot", {.created_at = 1000, .scopes = "old"});
  std::string newest = create(*store, "rot",
                              {.created_at = 2000,
                               .scopes = "a b",
                               .routes = "reports",
                               .cidrs = "10.0.0.0/8",
                               .label = "L"});
  create(*store, "other", {.created_at = 3000});
  RotationPlan plan;
  std::string error;
  NewKey made;
  auto result = store->rotate(
      "rot", 5000, 60,
      [&](const KeyInfo& t) {
        made.id = "NEWNEWNEWNEW";
        made.client_id = "rot";
        made.created_at = 5000;
        made.scopes = t.scopes;
        made.routes = t.routes;
        made.cidrs = t.cidrs;
        made.label = t.label;
        return made;
      },
      plan, error);
  ASSERT_EQ(result, WriteResult::Ok) << error;
  EXPECT_EQ(plan.template_key.id, newest.substr(4, 12));
  EXPECT_EQ(plan.expire.size(), 2u);
  std::vector<KeyInfo> rot;
  ASSERT_TRUE(store->list(std::string_view("rot"), rot, error));
  ASSERT_EQ(rot.size(), 3u);
  int active_without_expiry = 0;
  std::int64_t seq = -1;
  for (const auto& k : rot) {
    if (k.id == "NEWNEWNEWNEW") {
      EXPECT_EQ(k.scopes, "a b");
      EXPECT_EQ(k.routes, "reports");
      EXPECT_EQ(k.cidrs, "10.0.0.0/8");
      EXPECT_EQ(k.label, "L");
      EXPECT_FALSE(k.expires_at);
      ++active_without_expiry;
    } else {
      EXPECT_EQ(k.expires_at, 5060);
    }
    if (seq >= 0) {
      EXPECT_EQ(k.seq, seq) << "one change, one seq";
    }
    seq = k.seq;
  }
  EXPECT_EQ(active_without_expiry, 1);
  // The other client is untouched.
  std::vector<KeyInfo> other;
  ASSERT_TRUE(store->list(std::string_view("other"), other, error));
  EXPECT_FALSE(other[0].expires_at);

  RotationPlan none;
  EXPECT_EQ(store->rotate(
                "nobody", 5000, 60, [](const KeyInfo&) { return NewKey{}; }, none, error),
            WriteResult::Refused);
  EXPECT_NE(error.find("no active key"), std::string::npos) << error;
}

TEST_F(SqliteStoreTest, GatewayRegistrySeesCliChangesAndKeepsServingWhenTheFileGoes) {
  config::ApiKeysConfig cfg;
  cfg.store_path = path;
  cfg.pepper = config::Secret(std::string(kPepper));
  cfg.poll_interval_ms = 100;
  std::string error;
  auto registry = open_registry(cfg, {}, true, error);
  ASSERT_TRUE(registry) << error;
  // Same store and pepper: the running registry is shared (a reload loads nothing).
  EXPECT_EQ(open_registry(cfg, {registry, &cfg}, false, error), registry);

  auto cli = open(false);
  std::string key = create(*cli, "partner");
  std::string id = key.substr(4, 12);
  KeyEntry e;
  for (int i = 0; i < 50 && !registry->find(id, e); ++i) usleep(20000);
  ASSERT_TRUE(registry->find(id, e)) << "created key seen by the poller";

  ASSERT_EQ(cli->set_status(id, KeyStatus::Revoked, error), WriteResult::Ok);
  for (int i = 0; i < 50 && (registry->find(id, e), e.status != KeyStatus::Revoked); ++i) {
    usleep(20000);
  }
  EXPECT_EQ(e.status, KeyStatus::Revoked);

  fs::remove(path);
  for (int i = 0; i < 50 && registry->store_ok(); ++i) usleep(20000);
  EXPECT_FALSE(registry->store_ok());
  EXPECT_TRUE(registry->find(id, e)) << "last good view kept";
}

}  // namespace
}  // namespace portcullis::auth::api_key
