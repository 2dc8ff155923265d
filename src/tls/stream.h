// A connection that speaks TLS or plain TCP, decided once when it starts (start_tls). Reads
// and writes branch on that per call, with no virtual call: the plain path stays a socket
// operation. Satisfies Asio's and Beast's AsyncReadStream/AsyncWriteStream, so
// asio::async_write and Beast's http::async_read/async_write take it as they take a socket.
//
// TLS runs OpenSSL straight over the non-blocking socket (tls/connection_io.h): each
// operation calls OpenSSL and, when it wants the socket, waits for readiness and calls again.
// No buffer of its own: with SSL_MODE_RELEASE_BUFFERS an idle connection holds only the SSL
// object. One read and one write may be outstanding at once, as on a socket.
#pragma once

#include <array>
#include <boost/asio/append.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>

#include "tls/connection_io.h"

namespace portcullis::tls {

namespace detail {

// Runs `step(fd, n, ec)` until it completes, waiting on the socket for what it wants. A
// step that completes at once is completed through the executor, as an I/O would be.
template <class Socket, class Step>
struct TlsOp {
  Socket& socket;
  Step step;
  bool done = false;
  std::size_t n = 0;
  boost::system::error_code ec;

  template <class Self>
  void operator()(Self& self, boost::system::error_code wait_ec = {}, bool waited = false) {
    if (done) {
      self.complete(ec, n);
      return;
    }
    if (wait_ec) {
      self.complete(wait_ec, 0);
      return;
    }
    switch (step(socket.native_handle(), n, ec)) {
      case Want::Read:
        socket.async_wait(Socket::wait_read, boost::asio::append(std::move(self), true));
        return;
      case Want::Write:
        socket.async_wait(Socket::wait_write, boost::asio::append(std::move(self), true));
        return;
      case Want::Nothing:
        break;
    }
    if (waited) {
      self.complete(ec, n);
      return;
    }
    done = true;
    boost::asio::post(socket.get_executor(), std::move(self));
  }
};

}  // namespace detail

template <class Socket>
class Stream {
 public:
  using executor_type = typename Socket::executor_type;

  explicit Stream(Socket socket) : socket_(std::move(socket)) {}
  // Moved only with no operation outstanding (a connection parked while idle and taken up
  // again: server/http_session.cc).
  Stream(Stream&&) = default;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  // The TCP layer: options, cancel, shutdown and close.
  Socket& socket() { return socket_; }
  bool tls() const { return io_ != nullptr; }
  // Precondition: tls().
  SSL* native_ssl() const { return io_->native_handle(); }

  // From now on every read and write goes through TLS over the socket, with `ssl` (owned from
  // here on); the caller does the handshake. `already_read`: bytes of the TLS stream that were
  // read from the socket before (they are the first the TLS layer reads).
  void start_tls(SSL* ssl, std::string_view already_read = {}) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
    io_ = std::make_unique<ConnectionIo>(ssl, already_read);
  }

  // Precondition: tls(). The server side of the handshake; then close_notify both ways.
  template <class Token>
  auto async_handshake(Token&& token) {
    return run([io = io_.get()](int fd, std::size_t&,
                                boost::system::error_code& ec) { return io->handshake(fd, ec); },
               std::forward<Token>(token));
  }
  template <class Token>
  auto async_shutdown(Token&& token) {
    return run([io = io_.get()](int fd, std::size_t&,
                                boost::system::error_code& ec) { return io->shutdown(fd, ec); },
               std::forward<Token>(token));
  }

  // A read that never waits: `would_block` when nothing is there yet. Over TLS, one step
  // (a record that is not application data reads as nothing yet). Precondition for a plain
  // connection: the socket is non-blocking.
  std::size_t read_now(boost::asio::mutable_buffer b, boost::system::error_code& ec) {
    if (!io_) return socket_.read_some(b, ec);
    std::size_t n = 0;
    if (io_->read(socket_.native_handle(), b.data(), b.size(), n, ec) != Want::Nothing) {
      ec = boost::asio::error::would_block;
    }
    return n;
  }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    if (!io_) return socket_.async_read_some(buffers, std::forward<Token>(token));
    const auto b = first<boost::asio::mutable_buffer>(buffers);
    return run(
        [io = io_.get(), b](int fd, std::size_t& n, boost::system::error_code& ec) {
          if (b.size() == 0) return Want::Nothing;
          return io->read(fd, b.data(), b.size(), n, ec);
        },
        std::forward<Token>(token));
  }

  // Writes (some of) the buffers; a few small ones are gathered first, so that they leave as
  // one record and one send (as Asio's ssl stream does), not a record each.
  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    if (!io_) return socket_.async_write_some(buffers, std::forward<Token>(token));
    return run(
        [io = io_.get(), buffers](int fd, std::size_t& n, boost::system::error_code& ec) {
          std::array<char, kGatherBytes> storage;
          const boost::asio::const_buffer b = gather(buffers, storage);
          if (b.size() == 0) return Want::Nothing;
          return io->write(fd, b.data(), b.size(), n, ec);
        },
        std::forward<Token>(token));
  }

 private:
  static constexpr std::size_t kGatherBytes = 8192;

  // The first non-empty buffer, or, when it is small and more follow, as many of the bytes
  // as fit copied into `storage`. Called again after a wait, it gives the same bytes.
  template <class Buffers>
  static boost::asio::const_buffer gather(const Buffers& buffers,
                                          std::array<char, kGatherBytes>& storage) {
    const auto b = first<boost::asio::const_buffer>(buffers);
    if (b.size() >= storage.size() || b.size() == boost::asio::buffer_size(buffers)) return b;
    const std::size_t n = boost::asio::buffer_copy(boost::asio::buffer(storage), buffers);
    return boost::asio::const_buffer(storage.data(), n);
  }

  template <class Buffer, class Buffers>
  static Buffer first(const Buffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const Buffer b(*it);
      if (b.size() > 0) return b;
    }
    return Buffer();
  }

  template <class Step, class Token>
  auto run(Step step, Token&& token) {
    return boost::asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        detail::TlsOp<Socket, Step>{socket_, std::move(step)}, token, socket_);
  }

  Socket socket_;
  std::unique_ptr<ConnectionIo> io_;
};

}  // namespace portcullis::tls
