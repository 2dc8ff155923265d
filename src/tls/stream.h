// A connection that speaks TLS or plain TCP, decided once when it starts (start_tls). Reads
// and writes branch on that per call, with no virtual call and no allocation: the plain path
// stays a socket operation. Satisfies Asio's and Beast's AsyncReadStream/AsyncWriteStream, so
// asio::async_write and Beast's http::async_read/async_write take it as they take a socket.
//
// The TLS layer refers to the socket held here: a Stream is never moved.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cstddef>
#include <memory>
#include <utility>

namespace portcullis::tls {

template <class Socket>
class Stream {
 public:
  using executor_type = typename Socket::executor_type;
  using ssl_stream = boost::asio::ssl::stream<Socket&>;

  explicit Stream(Socket socket) : socket_(std::move(socket)) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  // The TCP layer: options, cancel, shutdown and close.
  Socket& socket() { return socket_; }
  bool tls() const { return ssl_ != nullptr; }
  // Precondition: tls().
  ssl_stream& ssl() { return *ssl_; }

  // From now on every read and write goes through TLS over the socket, with `ssl` (owned from
  // here on); the caller does the handshake.
  void start_tls(SSL* ssl) { ssl_ = std::make_unique<ssl_stream>(socket_, ssl); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto&& handler, const MutableBuffers& b) {
          if (ssl_) {
            ssl_->async_read_some(b, std::forward<decltype(handler)>(handler));
          } else {
            socket_.async_read_some(b, std::forward<decltype(handler)>(handler));
          }
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto&& handler, const ConstBuffers& b) {
          if (ssl_) {
            ssl_->async_write_some(b, std::forward<decltype(handler)>(handler));
          } else {
            socket_.async_write_some(b, std::forward<decltype(handler)>(handler));
          }
        },
        token, buffers);
  }

 private:
  Socket socket_;
  std::unique_ptr<ssl_stream> ssl_;
};

}  // namespace portcullis::tls
