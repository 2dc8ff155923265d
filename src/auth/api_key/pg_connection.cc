#include "auth/api_key/pg_connection.h"

#include <libpq-fe.h>
#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace portcullis::auth::api_key {
namespace {

// libpq writes NOTICEs ("schema exists, skipping") to stderr unless told otherwise.
void ignore_notice(void*, const char*) {}

// One line: libpq's messages end with a newline and may span several.
std::string one_line(const char* message) {
  std::string s;
  for (const char* p = message != nullptr ? message : ""; *p != '\0'; ++p) {
    const bool space = *p == '\n' || *p == '\t' || *p == ' ';
    if (!space) {
      s.push_back(*p);
    } else if (!s.empty() && s.back() != ' ') {
      s.push_back(' ');
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s.empty() ? "unknown error" : s;
}

bool has_param(const PgConnectSpec& spec, std::string_view key) {
  return std::any_of(spec.params.begin(), spec.params.end(),
                     [&](const auto& kv) { return kv.first == key; });
}

// The keywords and values handed to libpq: the URL's, the password, and defaults the URL
// did not set.
std::vector<std::pair<std::string, std::string>> keywords(const PgConnectSpec& spec) {
  auto kw = spec.params;
  if (!spec.password.empty()) kw.emplace_back("password", spec.password.reveal());
  if (!has_param(spec, "application_name"))
    kw.emplace_back("application_name", spec.application_name);
  if (spec.keepalives) {
    for (auto [k, v] :
         {std::pair{"keepalives_idle", "10"}, std::pair{"keepalives_interval", "5"},
          std::pair{"keepalives_count", "3"}, std::pair{"tcp_user_timeout", "20000"}}) {
      if (!has_param(spec, k)) kw.emplace_back(k, v);
    }
  }
  return kw;
}

std::chrono::milliseconds effective_timeout(const PgConnectSpec& spec,
                                            std::chrono::milliseconds timeout) {
  for (const auto& [k, v] : spec.params) {
    if (k != "connect_timeout") continue;
    const long s = std::strtol(v.c_str(), nullptr, 10);
    if (s > 0) timeout = std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(s));
  }
  return timeout;
}

// Drives PQconnectPoll until it answers, the deadline passes or wake_fd is readable.
bool finish_connect(PGconn* c, std::chrono::milliseconds timeout, int wake_fd, std::string& error) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  while (st != PGRES_POLLING_OK) {
    if (st == PGRES_POLLING_FAILED) {
      error = one_line(PQerrorMessage(c));
      return false;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      error = "timed out connecting";
      return false;
    }
    if (PQsocket(c) < 0) {
      error = one_line(PQerrorMessage(c));
      return false;
    }
    pollfd fds[2] = {
        {PQsocket(c), static_cast<short>(st == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0},
        {wake_fd, POLLIN, 0}};
    const int n = ::poll(fds, wake_fd >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (n < 0 && errno != EINTR) {
      error = "poll failed";
      return false;
    }
    if (wake_fd >= 0 && (fds[1].revents & POLLIN) != 0) {
      error = "stopped";
      return false;
    }
    if (n > 0) st = PQconnectPoll(c);
  }
  return true;
}

}  // namespace

PgResult::~PgResult() {
  if (r_ != nullptr) PQclear(r_);
}

PgResult& PgResult::operator=(PgResult&& o) noexcept {
  if (this != &o) {
    if (r_ != nullptr) PQclear(r_);
    r_ = std::exchange(o.r_, nullptr);
  }
  return *this;
}

bool PgResult::command_ok() const {
  return r_ != nullptr && PQresultStatus(r_) == PGRES_COMMAND_OK;
}

bool PgResult::tuples_ok() const {
  return r_ != nullptr && PQresultStatus(r_) == PGRES_TUPLES_OK;
}

int PgResult::rows() const {
  return r_ != nullptr ? PQntuples(r_) : 0;
}

std::string_view PgResult::text(int row, int col) const {
  return std::string_view(PQgetvalue(r_, row, col),
                          static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

bool PgResult::is_null(int row, int col) const {
  return PQgetisnull(r_, row, col) != 0;
}

std::string PgResult::sqlstate() const {
  const char* s = r_ != nullptr ? PQresultErrorField(r_, PG_DIAG_SQLSTATE) : nullptr;
  return s != nullptr ? s : "";
}

std::unique_ptr<PgConnection> PgConnection::connect(const PgConnectSpec& spec,
                                                    std::chrono::milliseconds timeout, int wake_fd,
                                                    std::string& error) {
  const auto kw = keywords(spec);
  std::vector<const char*> keys, values;
  for (const auto& [k, v] : kw) {
    keys.push_back(k.c_str());
    values.push_back(v.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // expand_dbname = 0: a database name is a name, never a connection string.
  PGconn* c = PQconnectStartParams(keys.data(), values.data(), 0);
  if (c == nullptr) {
    error = "out of memory";
    return nullptr;
  }
  std::unique_ptr<PgConnection> conn(new PgConnection(c, spec.answer_timeout));
  if (PQstatus(c) == CONNECTION_BAD) {
    error = one_line(PQerrorMessage(c));
    return nullptr;
  }
  if (!finish_connect(c, effective_timeout(spec, timeout), wake_fd, error)) return nullptr;
  PQsetNoticeProcessor(c, &ignore_notice, nullptr);
  // Hex is the default bytea output; a server configured otherwise is overridden here.
  if (!conn->command("SET bytea_output = 'hex'", "cannot set bytea_output", error)) return nullptr;
  return conn;
}

PgConnection::~PgConnection() {
  PQfinish(conn_);
}

bool PgConnection::alive() const {
  return !silent_ && PQstatus(conn_) == CONNECTION_OK;
}

bool PgConnection::read_input() const {
  if (silent_) return false;
  // Bytes OpenSSL has already decrypted need no wait (libpq's own wait looks there first): the
  // socket may stay quiet while they are the rest of the message.
  auto* ssl = static_cast<SSL*>(PQsslStruct(conn_, "OpenSSL"));
  if (ssl == nullptr || SSL_pending(ssl) == 0) {
    const int wait_ms =
        answer_timeout_.count() > 0 ? static_cast<int>(answer_timeout_.count()) : -1;
    pollfd fd{PQsocket(conn_), POLLIN, 0};
    if (fd.fd < 0) return false;
    int n = 0;
    do {
      n = ::poll(&fd, 1, wait_ms);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      // A late answer must never be read as the next statement's: the connection is done
      // (silent past the deadline, or a socket poll refuses).
      silent_ = true;
      return false;
    }
  }
  return PQconsumeInput(conn_) == 1;
}

pg_result* PgConnection::finish(bool sent) const {
  if (!sent) return nullptr;
  PGresult* last = nullptr;
  for (;;) {
    while (PQisBusy(conn_) != 0) {
      if (!read_input()) {
        if (last != nullptr) PQclear(last);
        return nullptr;
      }
    }
    PGresult* r = PQgetResult(conn_);
    if (r == nullptr) return last;
    if (last != nullptr) PQclear(last);
    last = r;
    const auto st = PQresultStatus(r);
    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) return r;
  }
}

int PgConnection::socket() const {
  return PQsocket(conn_);
}

PgResult PgConnection::query(const std::string& sql,
                             const std::vector<std::optional<std::string>>& params) const {
  if (silent_) return PgResult();
  if (params.empty()) return PgResult(finish(PQsendQuery(conn_, sql.c_str()) == 1));
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  return PgResult(finish(PQsendQueryParams(conn_, sql.c_str(), static_cast<int>(values.size()),
                                           nullptr, values.data(), nullptr, nullptr, 0) == 1));
}

bool PgConnection::command(const std::string& sql, std::string_view what,
                           std::string& error) const {
  PgResult r = query(sql);
  if (r.command_ok() || r.tuples_ok()) return true;
  error = std::string(what) + ": " + last_error();
  return false;
}

bool PgConnection::copy_in(const std::string& sql, std::string_view data,
                           std::string& error) const {
  PgResult start(query(sql));
  if (start.get() == nullptr || PQresultStatus(start.get()) != PGRES_COPY_IN) {
    error = "cannot start COPY: " + last_error();
    return false;
  }
  constexpr std::size_t kPiece = 1 << 20;
  bool sent = true;
  for (std::size_t pos = 0; pos < data.size() && sent; pos += kPiece) {
    const auto n = std::min(kPiece, data.size() - pos);
    sent = PQputCopyData(conn_, data.data() + pos, static_cast<int>(n)) == 1;
  }
  if (PQputCopyEnd(conn_, sent ? nullptr : "send failed") != 1) sent = false;
  bool ok = sent;
  while (PGresult* r = PQgetResult(conn_)) {
    PgResult end(r);
    if (!end.command_ok()) ok = false;
  }
  if (!ok) error = "COPY failed: " + last_error();
  return ok;
}

bool PgConnection::copy_out(const std::string& sql,
                            const std::function<bool(std::string_view)>& piece,
                            std::string& error) const {
  PgResult start(query(sql));
  if (start.get() == nullptr || PQresultStatus(start.get()) != PGRES_COPY_OUT) {
    error = "cannot start COPY: " + last_error();
    return false;
  }
  bool ok = true;
  while (true) {
    char* data = nullptr;
    const int n = PQgetCopyData(conn_, &data, 1);
    if (n == 0) {  // nothing buffered yet
      if (read_input()) continue;
      ok = false;
      error = "COPY failed: " + last_error();
      return false;  // the connection is given up: nothing more is read from it
    }
    if (n < 0) break;  // -1: done; -2: failed (the result says)
    if (ok && !piece(std::string_view(data, static_cast<std::size_t>(n)))) {
      ok = false;
      error = "unreadable COPY data";
    }
    PQfreemem(data);
  }
  // The COPY's own result, and nothing after it (libpq needs the connection drained).
  PgResult end(finish(true));
  if (!end.command_ok() && ok) {
    ok = false;
    error = "COPY failed: " + last_error();
  }
  return ok;
}

std::string PgConnection::last_error() const {
  if (silent_) {
    return "the server did not answer within " + std::to_string(answer_timeout_.count()) +
           " ms (the connection is given up)";
  }
  return one_line(PQerrorMessage(conn_));
}

}  // namespace portcullis::auth::api_key
