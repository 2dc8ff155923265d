#include "tls/connection_io.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <cerrno>
#include <cstring>
#include <string>

namespace portcullis::tls {

struct ConnectionIo::Transport {
  int fd = -1;
  std::string replay;  // read before the socket
  int error = 0;       // errno of the last failed socket call
};

namespace {

using Transport = ConnectionIo::Transport;

bool would_block(int e) {
  return e == EAGAIN || e == EWOULDBLOCK || e == EINTR;
}

int bio_read(BIO* bio, char* out, int size) {
  auto* t = static_cast<Transport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  if (!t->replay.empty()) {
    const std::size_t n = std::min(t->replay.size(), static_cast<std::size_t>(size));
    std::memcpy(out, t->replay.data(), n);
    t->replay.erase(0, n);
    return static_cast<int>(n);
  }
  const ssize_t n = ::recv(t->fd, out, static_cast<std::size_t>(size), 0);
  if (n >= 0) return static_cast<int>(n);  // 0: the peer closed
  if (would_block(errno)) {
    BIO_set_retry_read(bio);
  } else {
    t->error = errno;
  }
  return -1;
}

int bio_write(BIO* bio, const char* in, int size) {
  auto* t = static_cast<Transport*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (size <= 0) return 0;
  const ssize_t n = ::send(t->fd, in, static_cast<std::size_t>(size), MSG_NOSIGNAL);
  if (n >= 0) return static_cast<int>(n);
  if (would_block(errno)) {
    BIO_set_retry_write(bio);
  } else {
    t->error = errno;
  }
  return -1;
}

long bio_ctrl(BIO*, int cmd, long, void*) {
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;  // writes go straight to the socket
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

const BIO_METHOD* socket_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portcullis socket");
    if (m == nullptr) return m;
    BIO_meth_set_read(m, bio_read);
    BIO_meth_set_write(m, bio_write);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

}  // namespace

ConnectionIo::ConnectionIo(SSL* ssl, std::string_view already_read)
    : ssl_(ssl), transport_(std::make_unique<Transport>()) {
  transport_->replay.assign(already_read);
  const BIO_METHOD* method = socket_method();
  BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
  if (bio != nullptr) {
    BIO_set_data(bio, transport_.get());
    SSL_set_bio(ssl_, bio, bio);  // one reference, owned by the SSL
  }
  // Without a BIO every step fails (SSL_ERROR_SYSCALL): the handshake reports it.
  SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A whole record (or more) per recv, not its header then its body.
  SSL_set_read_ahead(ssl_, 1);
  SSL_set_accept_state(ssl_);  // the server side
}

ConnectionIo::~ConnectionIo() {
  SSL_free(ssl_);
}

Want ConnectionIo::finish(int ret, boost::system::error_code& ec) {
  namespace asio = boost::asio;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_NONE:
      ec = {};
      return Want::Nothing;
    case SSL_ERROR_WANT_READ:
      return Want::Read;
    case SSL_ERROR_WANT_WRITE:
      return Want::Write;
    case SSL_ERROR_ZERO_RETURN:  // close_notify: the end of the stream
      ec = asio::error::eof;
      break;
    case SSL_ERROR_SYSCALL:
      if (transport_->error != 0) {
        ec.assign(transport_->error, boost::system::system_category());
      } else {
        ec = asio::ssl::error::stream_truncated;
      }
      break;
    default: {
      const unsigned long e = ERR_get_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ec = asio::ssl::error::stream_truncated;  // closed without close_notify
      } else {
        ec.assign(static_cast<int>(e), asio::error::get_ssl_category());
      }
    }
  }
  ERR_clear_error();
  return Want::Nothing;
}

Want ConnectionIo::handshake(int fd, boost::system::error_code& ec) {
  transport_->fd = fd;
  transport_->error = 0;
  ERR_clear_error();
  return finish(SSL_do_handshake(ssl_), ec);
}

Want ConnectionIo::read(int fd, void* data, std::size_t size, std::size_t& n,
                        boost::system::error_code& ec) {
  n = 0;
  transport_->fd = fd;
  transport_->error = 0;
  ERR_clear_error();
  const int ret = SSL_read_ex(ssl_, data, size, &n);
  return finish(ret == 1 ? 1 : 0, ec);
}

Want ConnectionIo::write(int fd, const void* data, std::size_t size, std::size_t& n,
                         boost::system::error_code& ec) {
  n = 0;
  transport_->fd = fd;
  transport_->error = 0;
  ERR_clear_error();
  const int ret = SSL_write_ex(ssl_, data, size, &n);
  return finish(ret == 1 ? 1 : 0, ec);
}

Want ConnectionIo::shutdown(int fd, boost::system::error_code& ec) {
  transport_->fd = fd;
  transport_->error = 0;
  ERR_clear_error();
  int ret = SSL_shutdown(ssl_);
  if (ret == 0) ret = SSL_shutdown(ssl_);  // close_notify sent: now read the peer's
  if (ret == 1) {
    ec = {};
    return Want::Nothing;
  }
  return finish(ret, ec);
}

}  // namespace portcullis::tls
