// A connection that speaks TLS or plain TCP, decided once when it starts (start_tls). Reads
// and writes branch on that per call, with no virtual call and no allocation: the plain path
// stays a socket operation. Satisfies Asio's and Beast's AsyncReadStream/AsyncWriteStream, so
// asio::async_write and Beast's http::async_read/async_write take it as they take a socket.
//
// The TLS layer refers to the socket held here: a Stream is never moved.
#pragma once

#include <boost/asio/append.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace portcullis::tls {

// The socket as the TLS layer reads it: bytes that were read from the socket before TLS
// started (a PROXY header's packet may carry the start of the ClientHello) come first, then
// the socket itself.
template <class Socket>
class ReplaySocket {
 public:
  using executor_type = typename Socket::executor_type;
  using lowest_layer_type = typename Socket::lowest_layer_type;

  ReplaySocket(Socket& socket, std::string_view replay) : socket_(socket), replay_(replay) {}

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  lowest_layer_type& lowest_layer() { return socket_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return socket_.lowest_layer(); }

  template <class MutableBuffers, class Token>
  auto async_read_some(const MutableBuffers& buffers, Token&& token) {
    return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto&& handler, const MutableBuffers& b) {
          if (replay_.empty()) {
            socket_.async_read_some(b, std::forward<decltype(handler)>(handler));
            return;
          }
          const std::size_t n = boost::asio::buffer_copy(b, boost::asio::buffer(replay_));
          replay_.erase(0, n);
          // Completed as a read would be: later, on the handler's executor.
          auto ex = boost::asio::get_associated_executor(handler, socket_.get_executor());
          boost::asio::post(ex, boost::asio::append(std::forward<decltype(handler)>(handler),
                                                    boost::system::error_code{}, n));
        },
        token, buffers);
  }

  template <class ConstBuffers, class Token>
  auto async_write_some(const ConstBuffers& buffers, Token&& token) {
    return socket_.async_write_some(buffers, std::forward<Token>(token));
  }

 private:
  Socket& socket_;
  std::string replay_;
};

template <class Socket>
class Stream {
 public:
  using executor_type = typename Socket::executor_type;
  using ssl_stream = boost::asio::ssl::stream<ReplaySocket<Socket>>;

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
  // here on); the caller does the handshake. `already_read`: bytes of the TLS stream that were
  // read from the socket before (they are the first the TLS layer reads).
  void start_tls(SSL* ssl, std::string_view already_read = {}) {
    ssl_ = std::make_unique<ssl_stream>(ReplaySocket<Socket>(socket_, already_read), ssl);
  }

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
