// The Redis connection on its own io_context thread. Everything below runs on that thread
// except call() (which formats the command and posts) and connected(). Handlers capture the
// Impl by pointer: the thread holds the Impl until it ends, and handlers still pending then
// are destroyed with the io_context, never run.
#include "redis/client.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "common/enum_names.h"
#include "observe/metrics.h"
#include "redis/command.h"

namespace portcullis::redis {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string_view to_string(CallError e) {
  static constexpr EnumName<CallError> kNames[] = {{CallError::None, "ok"},
                                                   {CallError::Unavailable, "unavailable"},
                                                   {CallError::Timeout, "timeout"},
                                                   {CallError::Closed, "closed"}};
  return name_of(kNames, e, "unknown");
}

namespace {

struct Pending {
  std::string bytes;  // the command, until written
  Clock::time_point sent;
  Clock::time_point deadline;
  CallDone done;  // null once answered (a timed-out call's reply is still read, then dropped)
  bool handshake = false;  // AUTH or SELECT: not a caller's call, not counted
};

void count_call(CallError e) {
  observe::Metrics::global().add("portcullis_redis_calls_total", {{"result", to_string(e)}});
}

}  // namespace

struct Client::Impl : std::enable_shared_from_this<Impl> {
  enum class State : std::uint8_t { Connecting, Ready, Down };

  explicit Impl(ClientOptions o) : opt(std::move(o)), backoff(opt.backoff_min) {}

  ClientOptions opt;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  tcp::resolver resolver{ioc};
  tcp::socket socket{ioc};
  asio::steady_timer deadline_timer{ioc};
  asio::steady_timer retry_timer{ioc};
  std::thread thread;

  State state = State::Connecting;
  std::atomic<bool> up{false};
  std::uint64_t generation = 0;   // bumped per connection: a stale handler sees it and returns
  std::deque<Pending> queued;     // waiting for the connection
  std::deque<Pending> in_flight;  // written, answered in order
  std::size_t handshake_left = 0;
  std::string out, writing;
  bool write_busy = false;
  std::unique_ptr<ReplyReader> reader;
  std::array<char, 4096> buf{};
  std::chrono::milliseconds backoff;
  bool logged_down = false;
  Clock::time_point armed_for = Clock::time_point::max();

  void start() {
    guard.emplace(ioc.get_executor());
    asio::post(ioc, [this] { connect(); });
    // The thread holds the Impl: when the last owner lets go on this very thread (a callback
    // dropping the limiter), stop() cannot join, and the Impl must outlive the handler.
    thread = std::thread([self = shared_from_this()] {
      for (;;) {
        try {
          self->ioc.run();
          break;
        } catch (const std::exception& e) {
          spdlog::error("redis client: unexpected error: {}", e.what());
        }
      }
    });
  }

  void stop() {
    if (!thread.joinable()) return;
    guard.reset();
    ioc.stop();
    if (thread.get_id() == std::this_thread::get_id()) {
      thread.detach();  // run() returns after this handler; the thread's reference ends it
    } else {
      thread.join();
    }
  }

  std::string where() const { return opt.host + ":" + std::to_string(opt.port); }

  // ---- connecting -------------------------------------------------------------------------

  void connect() {
    state = State::Connecting;
    const auto gen = ++generation;
    reader = std::make_unique<ReplyReader>();
    retry_timer.expires_after(opt.connect_timeout);
    retry_timer.async_wait([this, gen](boost::system::error_code ec) {
      if (!ec && gen == generation && state == State::Connecting) fail("connect timed out");
    });
    resolver.async_resolve(
        opt.host, std::to_string(opt.port),
        [this, gen](boost::system::error_code ec, tcp::resolver::results_type results) {
          if (gen != generation) return;
          if (ec) return fail("cannot resolve: " + ec.message());
          asio::async_connect(socket, results,
                              [this, gen](boost::system::error_code ec2, const tcp::endpoint&) {
                                if (gen != generation) return;
                                if (ec2) return fail("cannot connect: " + ec2.message());
                                socket.set_option(tcp::no_delay(true), ec2);
                                handshake();
                              });
        });
  }

  void handshake() {
    read_loop(generation);
    const auto deadline = Clock::now() + opt.connect_timeout;
    handshake_left = 0;
    auto step = [&](std::vector<std::string> args, const char* what) {
      Pending p;
      append_command(p.bytes, args);
      p.sent = Clock::now();
      p.deadline = deadline;
      p.handshake = true;
      p.done = [this, what](CallResult r) {
        if (!r.ok()) return;  // the connection is failing already
        if (r.reply.is_error() || r.reply.type != Reply::Type::Status) {
          // Redis's message names the problem (WRONGPASS, NOAUTH, DB index out of range),
          // never the password.
          return fail(std::string(what) + " refused: " + r.reply.str);
        }
        if (--handshake_left == 0) ready();
      };
      out += p.bytes;
      in_flight.push_back(std::move(p));
      ++handshake_left;
    };
    if (!opt.password.empty()) {
      if (opt.username.empty()) {
        step({"AUTH", opt.password.reveal()}, "AUTH");
      } else {
        step({"AUTH", opt.username, opt.password.reveal()}, "AUTH");
      }
    }
    if (opt.db != 0) step({"SELECT", std::to_string(opt.db)}, "SELECT");
    // Redis must answer before the connection counts as up: a hung server accepts TCP
    // connections (the kernel does) but answers nothing.
    step({"PING"}, "PING");
    flush();
    arm();
  }

  void ready() {
    retry_timer.cancel();
    state = State::Ready;
    up = true;
    backoff = opt.backoff_min;
    if (logged_down) spdlog::info("redis {}: connected again", where());
    logged_down = false;
    observe::Metrics::global().add("portcullis_redis_connections_total", {{"result", "ok"}});
    while (!queued.empty()) {
      Pending p = std::move(queued.front());
      queued.pop_front();
      write(std::move(p));
    }
    flush();
    arm();
  }

  // The connection is unusable: answer everything waiting, then try again after the backoff.
  void fail(const std::string& why) {
    const bool was_up = up.exchange(false);
    ++generation;
    boost::system::error_code ignored;
    socket.close(ignored);
    resolver.cancel();
    out.clear();
    write_busy = false;
    state = State::Down;
    if (was_up || !logged_down) {
      spdlog::warn("redis {}: {}; retrying in the background", where(), why);
      logged_down = true;
    } else {
      spdlog::debug("redis {}: {}", where(), why);
    }
    observe::Metrics::global().add("portcullis_redis_connections_total", {{"result", "failed"}});
    auto answer_all = [](std::deque<Pending>& q, CallError e) {
      std::deque<Pending> taken;
      taken.swap(q);
      for (auto& p : taken) {
        if (p.done) {
          if (!p.handshake) count_call(e);
          p.done(CallResult{e, {}});
        }
      }
    };
    answer_all(in_flight, CallError::Closed);
    answer_all(queued, CallError::Unavailable);
    handshake_left = 0;
    const auto gen = generation;
    retry_timer.expires_after(backoff);
    retry_timer.async_wait([this, gen](boost::system::error_code ec) {
      if (!ec && gen == generation && state == State::Down) connect();
    });
    backoff = std::min(backoff * 2, opt.backoff_max);
  }

  // ---- calls ---------------------------------------------------------------------------

  void submit(Pending p) {
    switch (state) {
      case State::Down:
        count_call(CallError::Unavailable);
        p.done(CallResult{CallError::Unavailable, {}});
        return;
      case State::Connecting:
        queued.push_back(std::move(p));
        break;
      case State::Ready:
        write(std::move(p));
        flush();
        break;
    }
    arm();
  }

  void write(Pending p) {
    out += p.bytes;
    p.bytes.clear();
    p.sent = Clock::now();
    in_flight.push_back(std::move(p));
  }

  void flush() {
    if (write_busy || out.empty()) return;
    writing.clear();
    writing.swap(out);
    write_busy = true;
    const auto gen = generation;
    asio::async_write(socket, asio::buffer(writing),
                      [this, gen](boost::system::error_code ec, std::size_t) {
                        if (gen != generation) return;
                        write_busy = false;
                        if (ec) return fail("write failed: " + ec.message());
                        flush();
                      });
  }

  void read_loop(std::uint64_t gen) {
    socket.async_read_some(asio::buffer(buf),
                           [this, gen](boost::system::error_code ec, std::size_t n) {
                             if (gen != generation) return;
                             if (ec)
                               return fail(ec == asio::error::eof ? "connection closed by Redis"
                                                                  : "read failed: " + ec.message());
                             if (!reader->feed(std::string_view(buf.data(), n))) {
                               return fail("unreadable reply: " + reader->error());
                             }
                             while (auto reply = reader->next()) {
                               if (!deliver(std::move(*reply), gen)) return;
                             }
                             if (reader->failed())
                               return fail("unreadable reply: " + reader->error());
                             read_loop(gen);
                           });
  }

  // False when the connection failed meanwhile (a callback may have failed it).
  bool deliver(Reply reply, std::uint64_t gen) {
    if (in_flight.empty()) {
      fail("a reply nobody asked for");
      return false;
    }
    Pending p = std::move(in_flight.front());
    in_flight.pop_front();
    if (p.done) {
      if (!p.handshake) count_call(CallError::None);
      p.done(CallResult{CallError::None, std::move(reply)});
    }
    return gen == generation;
  }

  // ---- deadlines ---------------------------------------------------------------------------

  // One timer for the earliest moment something is due: a call's deadline, or the oldest
  // written call reaching dead_after.
  void arm() {
    auto next = Clock::time_point::max();
    for (const auto* q : {&queued, &in_flight}) {
      for (const auto& p : *q) {
        if (p.done) next = std::min(next, p.deadline);
      }
    }
    if (state == State::Ready && !in_flight.empty()) {
      next = std::min(next, in_flight.front().sent + opt.dead_after);
    }
    if (next == Clock::time_point::max() || next >= armed_for) return;
    armed_for = next;
    deadline_timer.expires_at(next);
    deadline_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      armed_for = Clock::time_point::max();
      on_deadline();
    });
  }

  void on_deadline() {
    const auto now = Clock::now();
    std::vector<std::pair<CallDone, bool>> expired;
    for (auto* q : {&queued, &in_flight}) {
      for (auto& p : *q) {
        if (p.done && p.deadline <= now) {
          expired.emplace_back(std::exchange(p.done, nullptr), p.handshake);
        }
      }
    }
    // Queued calls were never written: nothing will answer them.
    std::erase_if(queued, [](const Pending& p) { return !p.done; });
    for (auto& [done, internal] : expired) {
      if (!internal) count_call(CallError::Timeout);
      done(CallResult{CallError::Timeout, {}});
    }
    if (state == State::Ready && !in_flight.empty() &&
        now >= in_flight.front().sent + opt.dead_after) {
      return fail("no answer for " + std::to_string(opt.dead_after.count()) + " ms");
    }
    arm();
  }
};

Client::Client(ClientOptions options) : impl_(std::make_shared<Impl>(std::move(options))) {
  impl_->start();
}

Client::~Client() {
  stop();
}

void Client::call(std::vector<std::string> args, std::chrono::milliseconds timeout, CallDone done) {
  Pending p;
  append_command(p.bytes, args);
  p.deadline = Clock::now() + timeout;
  p.done = std::move(done);
  Impl* impl = impl_.get();
  asio::post(impl->ioc, [impl, p = std::move(p)]() mutable { impl->submit(std::move(p)); });
}

bool Client::connected() const {
  return impl_->up.load();
}

void Client::stop() {
  impl_->stop();
}

}  // namespace portcullis::redis
