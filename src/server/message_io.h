// Writing HTTP/1.1 messages piece by piece, and feeding buffered bytes to a parser: the two
// halves of the body pump that streams a request up and a response down through one buffer.
// Included by the session only (Beast headers).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>

#include "proxy/upstream_pool.h"
#include "server/upstream_response.h"
#include "tls/stream.h"

namespace portcullis::server {

// The client's connection: TLS when the listener has server.tls, else the plain socket.
using ClientStream = tls::Stream<proxy::Socket>;

// Writes a message's head (start line, then each field as stored, then `extra`: complete
// header lines such as the identity) into `out`, so it goes to the socket as one contiguous
// buffer. Framing headers are fields like any other here; the body writer follows them.
template <bool isRequest>
void serialize_head(const boost::beast::http::header<isRequest>& msg, std::string_view extra,
                    std::string& out);

// Parser::put without exceptions: Beast's fields keep a name's and a value's size in 16 bits
// and throw std::length_error past 64 KiB (a field of a head under a larger
// server.max_header_bytes, a trailer): that is http::error::header_limit here.
template <class Parser, class Buffers>
std::size_t put_checked(Parser& p, const Buffers& buffers, boost::beast::error_code& ec) {
  try {
    return p.put(buffers, ec);
  } catch (const std::length_error&) {
    ec = boost::beast::http::error::header_limit;
    return 0;
  }
}

// Feeds body bytes that are already buffered to the parser, without I/O. Returns how many
// body bytes landed in the body buffer (whose capacity was `capacity`); `ec` carries a parse
// error. A small body that arrived with its head is thus relayed without another read.
// The room left in a parser's body buffer (Beast's buffer_body, or UpstreamResponse's).
inline auto& body_of(boost::beast::http::request_parser<boost::beast::http::buffer_body>& p) {
  return p.get().body();
}
inline auto& body_of(UpstreamResponse& p) {
  return p.body();
}

template <class Parser>
std::size_t put_buffered(Parser& p, boost::beast::flat_buffer& buf, std::size_t capacity,
                         boost::beast::error_code& ec) {
  namespace http = boost::beast::http;
  p.eager(true);
  while (buf.size() > 0 && !p.is_done() && body_of(p).size > 0) {
    const std::size_t n = put_checked(p, buf.data(), ec);
    buf.consume(n);
    if (ec == http::error::need_buffer || ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec || n == 0) break;
  }
  return capacity - body_of(p).size;
}

// One outgoing message: the head (pending until the first piece, so a small message is a
// single send), then body pieces, chunk-framed when the message is chunked.
class OutgoingMessage {
 public:
  template <bool isRequest>
  void begin(const boost::beast::http::header<isRequest>& msg, bool chunked,
             std::string_view extra_lines = {}) {
    serialize_head(msg, extra_lines, prefix_);
    chunked_ = chunked;
  }

  // A response head from its parts: the status line, the upstream's kept lines, then the
  // gateway's.
  void begin_response(unsigned version, unsigned status, std::string_view reason,
                      std::string_view lines, std::string_view extra_lines, bool chunked);

  // Frees the buffers kept between messages: an idle connection holds none.
  void release() {
    std::string().swap(prefix_);
    std::string().swap(suffix_);
  }

  // `last`: no more body follows (writes the final chunk of a chunked body). `Stream` is
  // proxy::Socket or proxy::TlsSocket (upstream, proxy/tls_stream.h) or ClientStream (the
  // client), each instantiated in message_io.cc.
  template <class Stream>
  boost::asio::awaitable<std::tuple<boost::beast::error_code, std::size_t>> write(Stream& s,
                                                                                  const char* data,
                                                                                  std::size_t n,
                                                                                  bool last);

 private:
  static constexpr std::size_t kCoalesceBytes = 4096;  // see write()
  std::string prefix_;
  std::string suffix_;
  bool chunked_ = false;
};

}  // namespace portcullis::server
