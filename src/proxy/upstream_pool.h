// UpstreamPool: keep-alive connections to upstreams, one pool per worker thread (no locks).
// Connections are keyed by host:port (and, for https, the upstream's TLS context) and reused
// LIFO; idle ones expire. An https upstream's connections are TLS from the first byte: the
// handshake is part of connecting, and a failed one fails the connection (never a fallback
// to clear text); each destination keeps its resumable TLS session per worker.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"

namespace portcullis::tls {
class ClientContext;
class SessionSlot;
}  // namespace portcullis::tls

namespace portcullis::proxy {

// Sockets bound to the worker's io_context executor type (cheaper than any_io_executor on
// every operation). Timeouts are not per operation: the session's deadline is checked by the
// worker's sweeper, which cancels the sockets of a session that ran out of time.
using Socket =
    boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

struct TlsStream;  // proxy/tls_stream.h

// Whether a connection became readable while no request was using it (the upstream closed
// it, or sent bytes no request asked for). Shared with the pending wait's handler, which may
// run after the connection is gone; `generation` tells that handler its wait was called off.
struct IdleWatch {
  bool readable = false;
  unsigned generation = 0;
};

struct UpstreamConnection {
  explicit UpstreamConnection(boost::asio::io_context& ioc);
  ~UpstreamConnection();
  Socket stream;                     // the TCP connection; cancelled or closed on a deadline
  std::unique_ptr<TlsStream> tls;    // over `stream`, for an https upstream
  boost::beast::flat_buffer buffer;  // bytes read from the upstream, not yet parsed
  std::chrono::steady_clock::time_point idle_since;
  std::string key;
  std::shared_ptr<IdleWatch> watch;  // made by the first watch_idle()
  bool watching = false;             // a watch_idle() wait is pending

  // Starts waiting for the connection to become readable. Call it only when the response
  // has been read whole and nothing is left unread, before the next suspension, so that no
  // readiness event can pass unseen between the last read and the wait.
  void watch_idle();
};

// Tls: the TLS handshake failed (the certificate did not verify, the upstream refused ours...).
enum class ConnectError { None, Refused, Timeout, Resolve, Tls };

class UpstreamPool {
 public:
  // A connection given back less than this long ago is handed out without the peek: under load
  // (the only time one system call per request shows) connections come back within
  // microseconds, and an upstream's close that raced with that is what the retry of an
  // idempotent request on a reused connection is for (upstream_exchange.cc). Longer idle
  // connections, where an upstream's idle timeout or restart is likely, are still peeked at.
  static constexpr auto kPeekAfterIdle = std::chrono::milliseconds(1);

  explicit UpstreamPool(boost::asio::io_context& ioc) : ioc_(ioc) {}

  // An idle pooled connection to this upstream, else null. A connection that is readable
  // (the upstream closed it, or left bytes on it that no request asked for) is dropped, never
  // handed out: those bytes would be read as the next answer. Its pending watch_idle() wait
  // tells; a connection released without one is peeked at, unless it came back less than
  // kPeekAfterIdle ago. Synchronous: reusing a connection costs no coroutine frame.
  std::unique_ptr<UpstreamConnection> reuse(const config::UpstreamConfig& upstream,
                                            const tls::ClientContext* tls);
  // A new connection (and TLS handshake, for an https upstream: `tls` is its context), or
  // null with `error` set. `connecting` points at it while its connect (and handshake) is
  // pending, so the caller's deadline can cancel it.
  boost::asio::awaitable<std::unique_ptr<UpstreamConnection>> open(
      const config::UpstreamConfig& upstream, const tls::ClientContext* tls, ConnectError& error,
      UpstreamConnection*& connecting, const bool& timed_out);

  // Back to the pool; dropped when the pool for that upstream is full.
  void release(const config::UpstreamConfig& upstream, std::unique_ptr<UpstreamConnection> c);

 private:
  struct Destination {
    std::vector<std::unique_ptr<UpstreamConnection>> idle;
    std::shared_ptr<tls::SessionSlot> session;  // https: the session to resume
    std::chrono::steady_clock::time_point tls_failure_logged{};
  };
  boost::asio::awaitable<bool> connect(UpstreamConnection& c,
                                       const config::UpstreamConfig& upstream, ConnectError& error);
  boost::asio::awaitable<bool> handshake(UpstreamConnection& c,
                                         const config::UpstreamConfig& upstream,
                                         const tls::ClientContext& tls, Destination& d);

  boost::asio::io_context& ioc_;
  std::unordered_map<std::string, Destination> destinations_;
  std::string key_;  // reuse()'s and open()'s key, built in place
};

}  // namespace portcullis::proxy
