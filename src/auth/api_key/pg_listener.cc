#include "auth/api_key/pg_listener.h"

#include <libpq-fe.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace portcullis::auth::api_key {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr std::chrono::milliseconds kConnectTimeout{5000};

}  // namespace

PgListener::PgListener(PgConnectSpec spec, std::string channel, std::function<void(Event)> on_event)
    : spec_(std::move(spec)), channel_(std::move(channel)), on_event_(std::move(on_event)) {
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  thread_ = std::thread([this] { run(); });
}

PgListener::~PgListener() {
  stop_ = true;
  if (wake_fd_ >= 0) {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

bool PgListener::pause(std::chrono::milliseconds d) {
  pollfd fd{wake_fd_, POLLIN, 0};
  ::poll(&fd, 1, static_cast<int>(d.count()));
  return !stop_;
}

std::unique_ptr<PgConnection> PgListener::listen(std::string& error) {
  auto conn = PgConnection::connect(spec_, kConnectTimeout, wake_fd_, error);
  if (!conn) return nullptr;
  // The channel is made of [a-z0-9_] (config::check_schema_name): quoting is enough.
  if (!conn->command("LISTEN \"" + channel_ + "\"", "cannot LISTEN", error)) return nullptr;
  return conn;
}

void PgListener::serve(PgConnection& conn, std::string& error) {
  while (!stop_) {
    pollfd fds[2] = {{conn.socket(), POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0 && errno != EINTR) {
      error = "poll failed";
      return;
    }
    if (stop_ || (fds[1].revents & POLLIN) != 0) return;
    if ((fds[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0) continue;
    if (PQconsumeInput(conn.raw()) == 0 || !conn.alive()) {
      error = conn.last_error();
      return;
    }
    bool notified = false;
    while (PGnotify* n = PQnotifies(conn.raw())) {
      PQfreemem(n);
      notified = true;
    }
    if (notified) on_event_(Event::Notified);
  }
}

void PgListener::run() {
  auto backoff = kFirstBackoff;
  bool was_connected = false;
  std::string last_error;
  while (!stop_) {
    std::string error;
    auto conn = listen(error);
    if (stop_) break;
    if (!conn) {
      if (error != last_error) {
        spdlog::debug("api keys: cannot listen for key changes on {}: {}", spec_.display, error);
      }
      last_error = error;
      if (!pause(backoff)) break;
      backoff = std::min(backoff * 2, kMaxBackoff);
      continue;
    }
    backoff = kFirstBackoff;
    last_error.clear();
    spdlog::info("api keys: listening for key changes on {}{}", spec_.display,
                 was_connected ? " again" : "");
    was_connected = true;
    on_event_(Event::Connected);  // whatever changed while away is read now
    serve(*conn, error);
    if (stop_) break;
    spdlog::warn("api keys: lost the notification connection to {}: {}; reconnecting",
                 spec_.display, error);
    conn.reset();
    on_event_(Event::Lost);
    if (!pause(backoff)) break;
  }
}

}  // namespace portcullis::auth::api_key
