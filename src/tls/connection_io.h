// The OpenSSL side of a server TLS connection driven straight over its non-blocking socket
// (tls/stream.h holds the Asio side): one step of a handshake, read, write or shutdown at a
// time, which either completes or says which readiness of the socket it waits for.
//
// OpenSSL reads and writes the socket itself, through a small BIO (no copy through a BIO
// pair, no buffer of our own): with SSL_MODE_RELEASE_BUFFERS on the context, an idle
// connection holds no record buffer at all. Bytes read before TLS started (a PROXY header's
// packet may carry the start of the ClientHello) are handed to OpenSSL first.
#pragma once

#include <openssl/types.h>

#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string_view>

namespace portcullis::tls {

enum class Want { Nothing, Read, Write };

class ConnectionIo {
 public:
  // Takes ownership of `ssl`. `already_read`: bytes of the TLS stream read from the socket
  // before.
  ConnectionIo(SSL* ssl, std::string_view already_read);
  ~ConnectionIo();
  ConnectionIo(const ConnectionIo&) = delete;
  ConnectionIo& operator=(const ConnectionIo&) = delete;

  SSL* native_handle() const { return ssl_; }

  // Each step runs on socket `fd` (read anew for every step: a closed socket reads -1, never
  // another connection's descriptor). Want::Nothing: done, with `ec` (and `n`) set; else wait
  // for the socket and call the same step again with the same arguments.
  Want handshake(int fd, boost::system::error_code& ec);
  Want read(int fd, void* data, std::size_t size, std::size_t& n, boost::system::error_code& ec);
  Want write(int fd, const void* data, std::size_t size, std::size_t& n,
             boost::system::error_code& ec);
  // Sends close_notify, then waits for the peer's.
  Want shutdown(int fd, boost::system::error_code& ec);

  struct Transport;  // the BIO's state (connection_io.cc)

 private:
  Want finish(int ret, boost::system::error_code& ec);

  SSL* ssl_;
  std::unique_ptr<Transport> transport_;
};

}  // namespace portcullis::tls
