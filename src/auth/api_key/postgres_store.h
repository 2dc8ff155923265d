// PostgresKeyStore: the key registry in a PostgreSQL database that several gateways share
// (schema and migrations: pg_schema.h). Same contract as SqliteKeyStore:
//
// * Gateway side, on the registry's poller thread only: load_all reads the whole store in
//   one REPEATABLE READ snapshot with one binary COPY (streamed), changes_since the rows
//   whose seq is above the last one seen, record_usage the last_used_at of a batch (with
//   minute granularity, so busy keys do not rewrite their rows every few seconds). watch()
//   starts the one listening connection (pg_listener.h) that says when to poll.
// * CLI side: every write is one READ COMMITTED transaction that first takes the change
//   counter's row lock (writers from any machine are serialised: no lost update, and sequence
//   numbers commit in order) and notifies the schema's channel at commit.
//
// Connections are made when first needed, not by the constructor; after a failure the next
// attempt waits (100 ms doubling to 2 s, or until the listener has reconnected). No message
// carries the password: the server is named by its masked URL.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "auth/api_key/key_store.h"
#include "auth/api_key/pg_connection.h"
#include "auth/api_key/pg_values.h"

namespace portcullis::auth::api_key {

class PgListener;
class PgResult;

class PostgresKeyStore : public KeyStore {
 public:
  struct Options {
    PgConnectSpec connect;
    std::string schema = "portcullis";  // checked by config::check_schema_name
    std::chrono::milliseconds connect_timeout{5000};
  };

  explicit PostgresKeyStore(Options options);
  ~PostgresKeyStore() override;

  // "postgresql://gw:***@db/keys (schema portcullis)"
  std::string describe() const override;
  std::size_t estimated_keys() override;  // the planner's row count (pg_class.reltuples)
  void watch(std::function<void()> on_change) override;
  void unwatch() override;
  // The administration operations are in postgres_admin.cc.
#include "auth/api_key/key_store_operations.inc"

  // The schema's version (0: not created yet); connects now.
  bool schema_version(int& out, std::string& error);
  // Creates the schema or brings it to the latest version, in one transaction (concurrent
  // runs wait for each other). `applied` receives "N: description" per migration applied.
  bool migrate(int& version, std::vector<std::string>& applied, std::string& error);

 private:
  // The query connection, connected (with backoff); under mu_.
  PgConnection* raw_connection(std::string& error);
  // The same with the schema checked (it exists: its version is in version_).
  PgConnection* connection(std::string& error);
  // After a failed statement: forget the connection if it is gone.
  void check_alive();
  std::string fail(std::string_view what) const;
  std::string table(std::string_view name) const;
  // Reads the schema version on `c`; 0 when missing.
  bool read_version(PgConnection& c, int& out, std::string& error) const;
  bool create_schema_if_missing(PgConnection& c, std::string& error) const;
  bool read_counter(PgConnection& c, std::int64_t& out, std::string& error) const;
  // Every key row (above `since`, when given), in the caller's transaction.
  bool scan(PgConnection& c, std::optional<std::int64_t> since, const RowVisitor& visit,
            std::string& error);
  PollResult read_snapshot(std::optional<std::int64_t> since, const RowVisitor& visit);
  // A row of a text-format result (the CLI's queries).
  static void read_row(const PgResult& r, int row, std::string& hmac, KeyRow& out);
  // A row of the binary COPY (the gateway's loads); false when it does not read right.
  static bool read_binary_row(const pg::CopyBinaryReader::Fields& f, KeyRow& out);
  static constexpr const char* kColumns =
      "id, secret_hmac, client_id, status, created_at, expires_at, scopes, routes, cidrs, "
      "label, last_used_at, seq, rate_limit";
  // kColumns as the connected schema has them: before v2 there is no rate_limit to read (a
  // gateway may be upgraded before `keys migrate` ran), so '' stands in for it.
  std::string columns() const;

  // The write frame: under mu_, a transaction holding the change counter's lock, `body` with
  // the change's seq; notified and committed when it answers Ok, else rolled back.
  WriteResult in_write_transaction(
      std::string& error, const std::function<WriteResult(PgConnection&, std::int64_t)>& body);
  bool read_keys(PgConnection& c, const std::string& where,
                 const std::vector<std::optional<std::string>>& params, std::vector<KeyInfo>& out,
                 std::string& error);
  bool insert(PgConnection& c, const NewKey& key, std::int64_t seq, WriteResult& result,
              std::string& error);
  bool import_chunk(PgConnection& c, const KeyRecord* first, std::size_t n, std::int64_t seq,
                    ImportCounts& counts, std::string& error);

  Options options_;
  std::string channel_;

  std::mutex mu_;
  std::unique_ptr<PgConnection> conn_;
  bool schema_checked_ = false;  // on conn_
  int version_ = 0;
  std::chrono::steady_clock::time_point next_attempt_{};
  std::chrono::milliseconds backoff_{0};
  std::string connect_error_;
  std::atomic<bool> retry_now_{false};  // the listener reconnected: skip the backoff

  std::mutex watch_mu_;
  std::unique_ptr<PgListener> listener_;
};

}  // namespace portcullis::auth::api_key
