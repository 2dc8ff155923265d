// A connection between requests (HttpSession::park): when it has nothing to read, its
// coroutine ends and its Impl (the request's state, ~2.3 KiB, and ~2.4 KiB of coroutine
// frames) is freed; HttpSession::Parked (socket, TLS, peer, credential memo, certificate,
// idle deadline) waits for the socket to be readable, then a new Impl and coroutine take
// the connection up where it was. Closing (drain, idle timeout, drain deadline) reaches a
// parked connection through HttpSession::close_idle/cut/check_deadline.
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <exception>
#include <memory>

#include "server/session_impl.h"
#include "spdlog/spdlog.h"

namespace portcullis::server {

namespace {
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
                   }
                 });
}

void HttpSession::park(std::shared_ptr<HttpSession> self) {
  Impl& d = *self->impl_;
  auto p = std::make_unique<Parked>(std::move(d.client), d.worker);
  p->peer_ip = std::move(d.peer_ip);
  if (d.memo.owner != 0) {
    p->memo = std::make_unique<auth::CredentialMemo>();
    p->memo->swap(d.memo);
  }
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

}  // namespace portcullis::server
