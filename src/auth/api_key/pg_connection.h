// PgConnection: one libpq connection, used by one thread at a time (the registry's poller,
// the listener, or the CLI; never a worker), and PgResult, a PGresult freed on scope exit.
// Connecting is asynchronous underneath, so a deadline and a wake-up descriptor can end it.
// Messages name the server by its masked URL; libpq's own messages carry no password.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/secret.h"

struct pg_conn;
struct pg_result;

namespace portcullis::auth::api_key {

struct PgConnectSpec {
  // libpq keywords and values (config::KeyStoreLocation::params), never the password.
  std::vector<std::pair<std::string, std::string>> params;
  config::Secret password;  // empty: libpq's environment or ~/.pgpass
  std::string display;      // the masked URL, for messages
  std::string application_name = "portcullis";
  // Gateway connections: TCP keepalives, so a server gone without a word is noticed.
  bool keepalives = false;
  // How long a statement may wait for the server's next bytes (0: forever). Past it the
  // connection is given up: alive() turns false and the statement fails. The gateway sets
  // it, so that a backend that hangs (stopped, or behind a pooler that holds the socket
  // open) cannot freeze the key registry's view; the CLI waits (a migration may queue on a
  // lock).
  std::chrono::milliseconds answer_timeout{0};
};

class PgResult {
 public:
  explicit PgResult(pg_result* r = nullptr) : r_(r) {}
  ~PgResult();
  PgResult(PgResult&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  PgResult& operator=(PgResult&& o) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  bool command_ok() const;  // a command without rows succeeded
  bool tuples_ok() const;   // a query with rows succeeded
  int rows() const;
  std::string_view text(int row, int col) const;
  bool is_null(int row, int col) const;
  std::string sqlstate() const;  // "" when none
  pg_result* get() const { return r_; }

 private:
  pg_result* r_;
};

class PgConnection {
 public:
  // Connects within `timeout` (the URL's connect_timeout when shorter). `wake_fd`, when >= 0,
  // ends the attempt as soon as it becomes readable. Null with `error` set on failure.
  static std::unique_ptr<PgConnection> connect(const PgConnectSpec& spec,
                                               std::chrono::milliseconds timeout, int wake_fd,
                                               std::string& error);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // False once the connection is gone (the server closed it, a network error, or it stayed
  // silent past answer_timeout).
  bool alive() const;
  int socket() const;
  pg_conn* raw() const { return conn_; }

  // A statement with text parameters ($1...; nullopt is NULL) and text results.
  PgResult query(const std::string& sql,
                 const std::vector<std::optional<std::string>>& params = {}) const;
  // A statement that returns no rows; false with `error` set (prefixed with `what`).
  bool command(const std::string& sql, std::string_view what, std::string& error) const;
  // COPY ... TO STDOUT: each piece of data as it arrives to `piece` (false stops reading and
  // fails the call).
  bool copy_out(const std::string& sql, const std::function<bool(std::string_view)>& piece,
                std::string& error) const;
  // COPY ... FROM STDIN with `data` in text format.
  bool copy_in(const std::string& sql, std::string_view data, std::string& error) const;
  // libpq's last error on this connection, on one line.
  std::string last_error() const;

 private:
  PgConnection(pg_conn* c, std::chrono::milliseconds answer_timeout)
      : conn_(c), answer_timeout_(answer_timeout) {}
  // What PQexec does, without waiting past answer_timeout_ for the server: the statement's
  // last result (a COPY's start as soon as it comes), or null (last_error() says why).
  pg_result* finish(bool sent) const;
  // Reads in the server's next bytes, waiting at most answer_timeout_.
  bool read_input() const;
  pg_conn* conn_;
  const std::chrono::milliseconds answer_timeout_;
  mutable bool silent_ = false;  // the server did not answer within answer_timeout_
};

}  // namespace portcullis::auth::api_key
