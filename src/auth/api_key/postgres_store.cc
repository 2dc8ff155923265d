// PostgresKeyStore: connections, the schema check and migrations, and the gateway's side
// (pepper, loads, polls, usage, the listener). The CLI's writes are in postgres_admin.cc.
#include "auth/api_key/postgres_store.h"

#include <algorithm>

#include "auth/api_key/pg_listener.h"
#include "auth/api_key/pg_schema.h"
#include "auth/api_key/pg_values.h"

namespace portcullis::auth::api_key {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::size_t kUsageChunk = 5000;
// last_used_at is written when the stored one is older than this: a hint, not a log.
constexpr std::int64_t kUsageGranularity = 60;

void rollback(PgConnection& c) {
  c.query("ROLLBACK");
}

}  // namespace

PostgresKeyStore::PostgresKeyStore(Options options)
    : options_(std::move(options)), channel_(pg_schema::channel(options_.schema)) {}

PostgresKeyStore::~PostgresKeyStore() {
  unwatch();
}

std::string PostgresKeyStore::describe() const {
  return options_.connect.display + " (schema " + options_.schema + ")";
}

std::string PostgresKeyStore::fail(std::string_view what) const {
  std::string msg = describe() + ": " + std::string(what);
  if (conn_) msg += ": " + conn_->last_error();
  return msg;
}

std::string PostgresKeyStore::columns() const {
  if (version_ >= 2) return kColumns;
  return "id, secret_hmac, client_id, status, created_at, expires_at, scopes, routes, cidrs, "
         "label, last_used_at, seq, ''::text";
}

std::string PostgresKeyStore::table(std::string_view name) const {
  return pg::qualified(options_.schema, name);
}

void PostgresKeyStore::check_alive() {
  if (conn_ && !conn_->alive()) conn_.reset();
}

PgConnection* PostgresKeyStore::raw_connection(std::string& error) {
  if (conn_ && conn_->alive()) return conn_.get();
  conn_.reset();
  schema_checked_ = false;
  const auto now = std::chrono::steady_clock::now();
  if (retry_now_.exchange(false)) next_attempt_ = {};
  if (now < next_attempt_) {
    // The last attempt's error, word for word: the registry logs only when it changes.
    error = describe() + ": " + connect_error_;
    return nullptr;
  }
  std::string why;
  conn_ = PgConnection::connect(options_.connect, options_.connect_timeout, -1, why);
  if (!conn_) {
    backoff_ = backoff_.count() == 0 ? kFirstBackoff : std::min(backoff_ * 2, kMaxBackoff);
    next_attempt_ = now + backoff_;
    connect_error_ = "cannot connect: " + why;
    error = describe() + ": " + connect_error_;
    return nullptr;
  }
  backoff_ = std::chrono::milliseconds(0);
  return conn_.get();
}

PgConnection* PostgresKeyStore::connection(std::string& error) {
  PgConnection* c = raw_connection(error);
  if (c == nullptr || schema_checked_) return c;
  if (!read_version(*c, version_, error)) {
    check_alive();
    return nullptr;
  }
  if (version_ == 0) {
    error = describe() + ": no key store in this schema yet: run `portcullis keys migrate`";
    return nullptr;
  }
  schema_checked_ = true;
  return c;
}

bool PostgresKeyStore::read_version(PgConnection& c, int& out, std::string& error) const {
  PgResult exists = c.query("SELECT to_regclass($1) IS NOT NULL", {table("schema_migrations")});
  if (!exists.tuples_ok() || exists.rows() != 1) {
    error = fail("cannot read the schema version");
    return false;
  }
  out = 0;
  if (exists.text(0, 0) != "t") return true;
  PgResult v = c.query("SELECT coalesce(max(version), 0) FROM " + table("schema_migrations"));
  std::int64_t version = 0;
  if (!v.tuples_ok() || v.rows() != 1 || !pg::parse_int64(v.text(0, 0), version)) {
    error = fail("cannot read the schema version");
    return false;
  }
  out = static_cast<int>(version);
  return true;
}

bool PostgresKeyStore::schema_version(int& out, std::string& error) {
  std::lock_guard lock(mu_);
  PgConnection* c = raw_connection(error);
  if (c == nullptr) return false;
  if (read_version(*c, out, error)) return true;
  check_alive();
  return false;
}

bool PostgresKeyStore::create_schema_if_missing(PgConnection& c, std::string& error) const {
  // Only when missing: CREATE SCHEMA IF NOT EXISTS needs the database's CREATE privilege
  // even when the schema is there, which the schema's owner may well not have.
  PgResult r = c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", {options_.schema});
  if (!r.tuples_ok()) {
    error = fail("cannot look for the schema");
    return false;
  }
  if (r.rows() == 1) return true;
  if (c.command("CREATE SCHEMA \"" + options_.schema + "\"", "cannot create the schema", error)) {
    return true;
  }
  error = describe() + ": " + error;
  return false;
}

bool PostgresKeyStore::migrate(int& version, std::vector<std::string>& applied,
                               std::string& error) {
  std::lock_guard lock(mu_);
  PgConnection* c = raw_connection(error);
  if (c == nullptr) return false;
  auto step = [&](const std::string& sql, const std::vector<std::optional<std::string>>& params,
                  std::string_view what) {
    PgResult r = c->query(sql, params);
    if (r.command_ok() || r.tuples_ok()) return true;
    error = fail(what);
    return false;
  };
  bool ok = step("BEGIN", {}, "cannot start the migration") &&
            // Concurrent migrations of one schema wait for each other.
            step("SELECT pg_advisory_xact_lock(hashtext($1))", {"portcullis:" + options_.schema},
                 "cannot lock the schema") &&
            create_schema_if_missing(*c, error) &&
            step("CREATE TABLE IF NOT EXISTS " + table("schema_migrations") +
                     " (version integer PRIMARY KEY, description text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())",
                 {}, "cannot create schema_migrations") &&
            read_version(*c, version, error);
  if (ok && version > pg_schema::latest_version()) {
    error = describe() + ": schema version " + std::to_string(version) +
            " is newer than this portcullis knows (" + std::to_string(pg_schema::latest_version()) +
            ")";
    ok = false;
  }
  for (const auto* m :
       ok ? pg_schema::pending(version) : std::vector<const pg_schema::Migration*>{}) {
    ok = step(pg_schema::render(m->sql, options_.schema), {},
              "migration " + std::to_string(m->version) + " failed") &&
         step("INSERT INTO " + table("schema_migrations") +
                  " (version, description) VALUES ($1, $2)",
              {std::to_string(m->version), std::string(m->description)}, "cannot record migration");
    if (!ok) break;
    applied.push_back(std::to_string(m->version) + ": " + std::string(m->description));
    version = m->version;
  }
  if (ok) ok = step("COMMIT", {}, "cannot commit the migration");
  if (!ok) {
    rollback(*c);
    applied.clear();
    check_alive();
  }
  schema_checked_ = false;  // read again on the next use
  return ok;
}

bool PostgresKeyStore::read_counter(PgConnection& c, std::int64_t& out, std::string& error) const {
  PgResult r = c.query("SELECT seq FROM " + table("change_seq"));
  if (!r.tuples_ok() || r.rows() != 1 || !pg::parse_int64(r.text(0, 0), out)) {
    error = fail("cannot read the change counter");
    return false;
  }
  return true;
}

void PostgresKeyStore::read_row(const PgResult& r, int row, std::string& hmac, KeyRow& out) {
  bool ok = pg::decode_bytea(r.text(row, 1), hmac);
  auto integer = [&](int col) {
    std::int64_t v = 0;
    ok = pg::parse_int64(r.text(row, col), v) && ok;
    return v;
  };
  auto optional_integer = [&](int col) -> std::optional<std::int64_t> {
    if (r.is_null(row, col)) return std::nullopt;
    return integer(col);
  };
  out.id = r.text(row, 0);
  out.client_id = r.text(row, 2);
  out.status = parse_status(r.text(row, 3)).value_or(KeyStatus::Revoked);
  out.created_at = integer(4);
  out.expires_at = optional_integer(5);
  out.scopes = r.text(row, 6);
  out.routes = r.text(row, 7);
  out.cidrs = r.text(row, 8);
  out.label = r.text(row, 9);
  out.last_used_at = optional_integer(10);
  out.seq = integer(11);
  out.rate_limit = r.text(row, 12);
  // A row that does not read right fails closed: no hash, so no key matches it.
  out.secret_hmac = ok ? std::string_view(hmac) : std::string_view();
  if (!ok) out.status = KeyStatus::Revoked;
}

bool PostgresKeyStore::read_binary_row(const pg::CopyBinaryReader::Fields& f, KeyRow& out) {
  if (f.size() != 13 || !f[0] || !f[1] || !f[2] || !f[3]) return false;
  bool ok = true;
  auto integer = [&](std::size_t i) {
    std::int64_t v = 0;
    ok = f[i] && pg::binary_int64(*f[i], v) && ok;
    return v;
  };
  auto optional_integer = [&](std::size_t i) -> std::optional<std::int64_t> {
    if (!f[i]) return std::nullopt;
    return integer(i);
  };
  auto text = [&](std::size_t i) { return f[i].value_or(std::string_view()); };
  out.id = *f[0];
  out.secret_hmac = *f[1];
  out.client_id = *f[2];
  out.status = parse_status(*f[3]).value_or(KeyStatus::Revoked);
  out.created_at = integer(4);
  out.expires_at = optional_integer(5);
  out.scopes = text(6);
  out.routes = text(7);
  out.cidrs = text(8);
  out.label = text(9);
  out.last_used_at = optional_integer(10);
  out.seq = integer(11);
  out.rate_limit = text(12);
  return ok;
}

bool PostgresKeyStore::scan(PgConnection& c, std::optional<std::int64_t> since,
                            const RowVisitor& visit, std::string& error) {
  // One COPY in binary format: the server sends rows while the gateway stores them (a cursor
  // would make each wait for the other), and nothing is parsed from text. COPY takes no
  // parameters: `since` is a number written by us.
  std::string sql = "COPY (SELECT " + columns() + " FROM " + table("api_keys");
  if (since) sql += " WHERE seq > " + std::to_string(*since) + " ORDER BY seq";
  sql += ") TO STDOUT (FORMAT binary)";
  pg::CopyBinaryReader reader;
  pg::CopyBinaryReader::Fields fields;
  bool ended = false;
  const bool copied = c.copy_out(
      sql,
      [&](std::string_view piece) {
        reader.feed(piece);
        while (true) {
          switch (reader.next(fields)) {
            case pg::CopyBinaryReader::Step::Row: {
              KeyRow row;
              // A row that does not read right fails closed: no hash, so no key matches it.
              if (!read_binary_row(fields, row)) {
                row.secret_hmac = {};
                row.status = KeyStatus::Revoked;
              }
              visit(row);
              break;
            }
            case pg::CopyBinaryReader::Step::NeedMore:
              return true;
            case pg::CopyBinaryReader::Step::End:
              ended = true;
              return true;
            case pg::CopyBinaryReader::Step::Error:
              return false;
          }
        }
      },
      error);
  if (!copied || !ended) {
    error = fail(reader.error().empty() ? "cannot read keys: " + error
                                        : "cannot read keys: " + reader.error());
    return false;
  }
  return true;
}

PollResult PostgresKeyStore::read_snapshot(std::optional<std::int64_t> since,
                                           const RowVisitor& visit) {
  std::lock_guard lock(mu_);
  PollResult r;
  PgConnection* c = connection(r.error);
  if (c == nullptr) return r;
  if (!c->command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot start a read",
                  r.error)) {
    r.error = describe() + ": " + r.error;
    check_alive();
    return r;
  }
  // A schema older than this version's may have been migrated since it was read: look again
  // (only then), so rows a newer CLI writes are read whole.
  bool ok = version_ >= pg_schema::latest_version() || read_version(*c, version_, r.error);
  ok = ok && read_counter(*c, r.max_seq, r.error);
  // A counter below what was seen: the database was restored from an older copy.
  r.reset = !since || r.max_seq < *since;
  if (ok && r.reset) {
    ok = scan(*c, std::nullopt, visit, r.error);
  } else if (ok && r.max_seq > *since) {
    ok = scan(*c, since, visit, r.error);
  }
  if (ok) ok = c->command("COMMIT", "cannot end the read", r.error);
  if (!ok) {
    rollback(*c);
    check_alive();
    return r;
  }
  r.ok = true;
  return r;
}

std::size_t PostgresKeyStore::estimated_keys() {
  std::lock_guard lock(mu_);
  std::string error;
  PgConnection* c = connection(error);
  if (c == nullptr) return 0;
  PgResult r = c->query(
      "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = "
      "to_regclass($1)",
      {table("api_keys")});
  std::int64_t n = 0;
  if (!r.tuples_ok() || r.rows() != 1 || !pg::parse_int64(r.text(0, 0), n)) {
    check_alive();
    return 0;
  }
  return static_cast<std::size_t>(std::min<std::int64_t>(n, 100'000'000));
}

PollResult PostgresKeyStore::load_all(const RowVisitor& visit) {
  return read_snapshot(std::nullopt, visit);
}

PollResult PostgresKeyStore::changes_since(std::int64_t seq, const RowVisitor& visit) {
  return read_snapshot(seq, visit);
}

bool PostgresKeyStore::record_usage(const std::vector<std::string>& ids, std::int64_t when,
                                    std::string& error) {
  std::lock_guard lock(mu_);
  PgConnection* c = connection(error);
  if (c == nullptr) return false;
  std::vector<std::string> sorted = ids;  // one lock order for every gateway: no deadlock
  std::sort(sorted.begin(), sorted.end());
  for (std::size_t i = 0; i < sorted.size(); i += kUsageChunk) {
    const std::vector<std::string> chunk(
        sorted.begin() + static_cast<std::ptrdiff_t>(i),
        sorted.begin() + static_cast<std::ptrdiff_t>(std::min(sorted.size(), i + kUsageChunk)));
    PgResult r =
        c->query("UPDATE " + table("api_keys") +
                     " SET last_used_at = $1::bigint WHERE id = ANY($2::text[]) AND "
                     "(last_used_at IS NULL OR last_used_at < $1::bigint - $3::bigint)",
                 {std::to_string(when), pg::text_array(chunk), std::to_string(kUsageGranularity)});
    if (!r.command_ok()) {
      error = fail("cannot record key usage");
      check_alive();
      return false;
    }
  }
  return true;
}

bool PostgresKeyStore::pepper_fingerprint(std::optional<Digest>& out, std::string& error) {
  std::lock_guard lock(mu_);
  out.reset();
  PgConnection* c = connection(error);
  if (c == nullptr) return false;
  PgResult r =
      c->query("SELECT value FROM " + table("meta") + " WHERE name = 'pepper_fingerprint'");
  std::string bytes;
  if (!r.tuples_ok() || (r.rows() == 1 && (!pg::decode_bytea(r.text(0, 0), bytes) ||
                                           bytes.size() != Digest().size()))) {
    error = fail("cannot read the pepper fingerprint");
    check_alive();
    return false;
  }
  if (r.rows() == 0) return true;
  Digest d;
  std::copy(bytes.begin(), bytes.end(), d.begin());
  out = d;
  return true;
}

bool PostgresKeyStore::bind_pepper(const Digest& fingerprint, std::string& error) {
  std::optional<Digest> stored;
  if (!pepper_fingerprint(stored, error)) return false;
  if (!stored) {
    std::lock_guard lock(mu_);
    PgConnection* c = connection(error);
    if (c == nullptr) return false;
    // Two first binders race: the first insert wins and the other compares below.
    PgResult r =
        c->query("INSERT INTO " + table("meta") +
                     " (name, value) VALUES ('pepper_fingerprint', $1::bytea) "
                     "ON CONFLICT (name) DO NOTHING",
                 {pg::encode_bytea(std::string_view(
                     reinterpret_cast<const char*>(fingerprint.data()), fingerprint.size()))});
    if (!r.command_ok()) {
      error = fail("cannot store the pepper fingerprint");
      check_alive();
      return false;
    }
  }
  if (!stored && !pepper_fingerprint(stored, error)) return false;
  if (!stored || !digest_equal(fingerprint, *stored)) {
    error = describe() +
            ": the pepper differs from the one this key store was created with (changing the "
            "pepper is not supported: every key would stop working)";
    return false;
  }
  return true;
}

void PostgresKeyStore::watch(std::function<void()> on_change) {
  std::lock_guard lock(watch_mu_);
  PgConnectSpec spec = options_.connect;
  spec.keepalives = true;
  listener_ = std::make_unique<PgListener>(
      std::move(spec), channel_, [this, on_change = std::move(on_change)](PgListener::Event e) {
        // The server answers again: the poller's next attempt need not wait its backoff.
        if (e == PgListener::Event::Connected) retry_now_ = true;
        on_change();
      });
}

void PostgresKeyStore::unwatch() {
  std::unique_ptr<PgListener> stopping;
  {
    std::lock_guard lock(watch_mu_);
    stopping = std::move(listener_);
  }
  stopping.reset();  // joins its thread
}

}  // namespace portcullis::auth::api_key
