// A connection between requests. A plain one waits for its next request with Asio's read
// pending (await_first_byte) until the worker's sweeper finds it waiting and parks it
// (park_if_waiting); a TLS one, or one with a grown buffer, parks at once. Parked
// (HttpSession::park), its coroutine ends and its Impl (the request's state, ~2.3 KiB, and
// ~2.4 KiB of coroutine frames) is freed; HttpSession::Parked (socket, TLS, peer, credential
// memo, certificate, idle deadline) waits for the socket to be readable, then a new Impl and
// coroutine take the connection up where it was. Closing (drain, idle timeout, drain
// deadline) reaches a parked connection through HttpSession::close_idle/cut/check_deadline.
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <exception>
#include <memory>
#include <tuple>

#include "common/nothrow.h"
#include "server/session_impl.h"
#include "spdlog/spdlog.h"

namespace portcullis::server {

namespace {
constexpr std::size_t kFirstRead = 4096;  // the read that starts a request

// Plain operator new/delete for a parked connection's wait. Asio's default (std::allocator
// included) recycles the thread's last freed blocks, whatever their size: a wait parked for
// minutes would hold an earlier write's 352 bytes where it needs ~100.
template <class T>
struct ExactAllocator {
  using value_type = T;
  ExactAllocator() = default;
  template <class U>
  ExactAllocator(const ExactAllocator<U>&) noexcept {}  // NOLINT: rebinding converts
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  friend bool operator==(const ExactAllocator&, const ExactAllocator&) { return true; }
  friend bool operator!=(const ExactAllocator&, const ExactAllocator&) { return false; }
};
}  // namespace

void HttpSession::spawn(std::shared_ptr<HttpSession> self, bool resumed) {
  Impl& d = *self->impl_;
  auto run = d.run(self, resumed);
  asio::co_spawn(d.worker.ioc(), std::move(run),
                 [self = std::move(self)](std::exception_ptr e, bool parked) mutable {
                   if (!e) {
                     if (parked) park(std::move(self));
                     return;
                   }
                   try {
                     std::rethrow_exception(e);
                   } catch (const std::exception& ex) {
                     spdlog::error("session ended by an unexpected error: {}", ex.what());
                   } catch (...) {
                     spdlog::error("session ended by an unexpected error");
                   }
                   self->end_after_error();
                 });
}

// What run() does when it ends, for a coroutine an exception ended instead: the connection
// closes and the worker forgets the session (its sweeper would otherwise visit a freed one).
void HttpSession::end_after_error() {
  Impl& d = *impl_;
  beast::error_code ec;
  d.client.socket().close(ec);
  if (d.in_request) d.worker.state().active_requests.fetch_sub(1);
  d.worker.sessions().erase(this);
  d.worker.state().active_sessions.fetch_sub(1);
}

void HttpSession::park(std::shared_ptr<HttpSession> self) {
  Impl& d = *self->impl_;
  auto p = std::make_unique<Parked>(std::move(d.client), d.worker);
  p->peer_ip = std::move(d.peer_ip);
  if (d.memo && d.memo->owner != 0) p->memo = std::move(d.memo);
  p->client_cert = std::move(d.client_cert);
  p->deadline = d.deadline;
  self->impl_.reset();
  ClientStream& client = p->client;
  self->parked_ = std::move(p);
  client.socket().async_wait(
      tcp::socket::wait_read,
      asio::bind_allocator(
          ExactAllocator<void>(),
          [self = std::move(self)](beast::error_code ec) mutable { unpark(std::move(self), ec); }));
}

void HttpSession::unpark(std::shared_ptr<HttpSession> self, beast::error_code ec) {
  if (ec) {
    // Closed while parked (drain, idle timeout): no answer, no close_notify.
    Parked& p = *self->parked_;
    p.client.socket().shutdown(tcp::socket::shutdown_send, ec);
    p.client.socket().close(ec);
    p.worker.sessions().erase(self.get());
    p.worker.state().active_sessions.fetch_sub(1);
    return;
  }
  self->impl_ = std::make_unique<Impl>(std::move(*self->parked_));
  self->parked_.reset();
  spawn(std::move(self), true);
}

bool HttpSession::close_parked() {
  if (!parked_) return false;
  beast::error_code ec;
  parked_->client.socket().shutdown(tcp::socket::shutdown_both, ec);
  parked_->client.socket().close(ec);
  return true;
}

void HttpSession::check_parked_deadline(Clock::time_point now) {
  if (now < parked_->deadline) return;
  beast::error_code ec;
  parked_->deadline = Clock::time_point::max();
  parked_->timed_out = true;
  parked_->client.socket().cancel(ec);
}

void HttpSession::Impl::park_if_waiting() {
  if (!parkable || park) return;
  park = true;  // waiting for a next request: give the read buffer back (await_first_byte)
  beast::error_code ec;
  client.socket().cancel(ec);
}

asio::awaitable<bool> HttpSession::Impl::await_first_byte(const config::ServerConfig& sc) {
  if (buffer.size() > 0) co_return true;  // pipelined
  if (worker.draining()) co_return false;
  idle = true;
  // Parked and taken up again (HttpSession::park), the connection has bytes to read, and the
  // idle deadline armed before parking still holds (a client sending TLS records without
  // data does not extend it).
  const bool resumed_now = resumed;
  resumed = false;
  if (!resumed_now) arm(std::chrono::seconds(sc.idle_timeout_s));
  beast::error_code ec;
  std::size_t n = 0;
  if (!resumed_now && !client.tls() && buffer.capacity() <= kFirstRead) {
    // A busy client's next request comes within microseconds: Asio's read tries the socket
    // once, then waits for readiness with no system call of its own (the socket stays in the
    // worker's epoll set), holding the read buffer meanwhile. A connection the sweeper finds
    // waiting (within kSweepInterval) is parked: the read is called off and the connection
    // waits below, holding nothing but its socket (it costs an epoll_ctl, which only a
    // connection idle that long pays). A buffer grown past the usual size (a large head) is
    // given back at once instead.
    parkable = true;
    park = false;
    std::tie(ec, n) = co_await client.async_read_some(buffer.prepare(kFirstRead), nothrow);
    parkable = false;
    const bool parked = park && ec == asio::error::operation_aborted && !timed_out;
    if (!parked) {
      idle = false;
      if (ec || n == 0) co_return false;
      buffer.commit(n);
      co_return true;
    }
  }
  // A busy client's next request may be there already.
  n = client.read_now(buffer.prepare(kFirstRead), ec);
  if (ec == asio::error::would_block) {
    // Nothing yet (over TLS: nothing, or a record without data): the coroutine ends and
    // the connection waits parked (HttpSession::park), holding no buffer, frame or request
    // state.
    end_to_park = true;
    co_return false;
  }
  idle = false;
  if (ec || n == 0) co_return false;
  buffer.commit(n);
  co_return true;
}

}  // namespace portcullis::server
