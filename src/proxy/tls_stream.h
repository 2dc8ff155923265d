// The TLS layer of an upstream connection: Asio's ssl stream over the connection's socket.
// Kept apart from upstream_pool.h (which holds it behind a pointer) so that Asio's ssl headers
// reach only the files that read or write upstream bytes.
#pragma once

#include <boost/asio/ssl/stream.hpp>

#include "proxy/upstream_pool.h"

namespace portcullis::proxy {

using TlsSocket = boost::asio::ssl::stream<Socket&>;

struct TlsStream {
  // Takes ownership of `ssl` (tls/client_context.h made it for this connection).
  TlsStream(Socket& socket, SSL* ssl) : stream(socket, ssl) {}
  TlsSocket stream;
};

}  // namespace portcullis::proxy
