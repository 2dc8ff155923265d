#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "common/nothrow.h"
#include "proxy/tls_stream.h"
#include "spdlog/spdlog.h"
#include "tls/client_context.h"

namespace portcullis::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

// host:port, and the TLS context for https: a connection (or session) verified under some
// settings is never handed out under others.
void key_of(const config::UpstreamConfig& u, const tls::ClientContext* tls, std::string& key) {
  key.assign(u.host);
  key += ':';
  char digits[24];
  key.append(digits, std::to_chars(digits, digits + sizeof digits, u.port).ptr);
  if (tls != nullptr) {
    key += "#tls";
    key.append(digits, std::to_chars(digits, digits + sizeof digits, tls->id()).ptr);
  }
}

// True when an idle connection has something to read: the peer closed (or reset) it, or sent
// bytes nobody asked for (over TLS: a close_notify alert, or anything else). Non-blocking peek.
bool readable(Socket& s) {
  char c;
  const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n > 0) return true;  // unsolicited bytes: the connection is not in a known state
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

constexpr auto kTlsFailureLogEvery = std::chrono::seconds(5);

}  // namespace

UpstreamConnection::UpstreamConnection(asio::io_context& ioc) : stream(ioc.get_executor()) {}
UpstreamConnection::~UpstreamConnection() = default;

void UpstreamConnection::watch_idle() {
  if (!watch) watch = std::make_shared<IdleWatch>();
  watch->readable = false;
  stream.async_wait(Socket::wait_read, [w = watch, gen = watch->generation](beast::error_code ec) {
    if (!ec && w->generation == gen) w->readable = true;
  });
  watching = true;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::reuse(const config::UpstreamConfig& upstream,
                                                        const tls::ClientContext* tls) {
  key_of(upstream, tls, key_);
  auto found = destinations_.find(key_);
  if (found == destinations_.end()) return nullptr;
  auto& idle = found->second.idle;
  const auto now = std::chrono::steady_clock::now();
  const auto max_idle = std::chrono::seconds(upstream.idle_timeout_s);
  while (!idle.empty()) {
    auto c = std::move(idle.back());
    idle.pop_back();
    if (now - c->idle_since > max_idle) continue;
    if (c->watching) {
      if (c->watch->readable) continue;
      // Called off: the wait's handler, even one already queued, sees another generation.
      ++c->watch->generation;
      c->watching = false;
      beast::error_code ec;
      c->stream.cancel(ec);
    } else if (now - c->idle_since >= kPeekAfterIdle && readable(c->stream)) {
      continue;
    }
    return c;
  }
  return nullptr;
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::open(
    const config::UpstreamConfig& upstream, const tls::ClientContext* tls, ConnectError& error,
    UpstreamConnection*& connecting, const bool& timed_out) {
  error = ConnectError::None;
  key_of(upstream, tls, key_);
  std::string key = key_;
  Destination& d = destinations_[key];
  auto c = std::make_unique<UpstreamConnection>(ioc_);
  c->key = std::move(key);
  connecting = c.get();
  bool ok = co_await connect(*c, upstream, error);
  if (ok && tls != nullptr) {
    ok = co_await handshake(*c, upstream, *tls, d);
    if (!ok) error = ConnectError::Tls;
  }
  connecting = nullptr;
  if (!ok) {
    if (timed_out && error != ConnectError::Resolve) error = ConnectError::Timeout;
    co_return nullptr;
  }
  co_return c;
}

asio::awaitable<bool> UpstreamPool::connect(UpstreamConnection& c,
                                            const config::UpstreamConfig& upstream,
                                            ConnectError& error) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(upstream.host, ec);
  if (!ec) {
    auto [cec] = co_await c.stream.async_connect(tcp::endpoint(addr, upstream.port), nothrow);
    ec = cec;
  } else {
    tcp::resolver resolver(ioc_);
    const std::string service = std::to_string(upstream.port);
    auto [rec, results] = co_await resolver.async_resolve(upstream.host, service, nothrow);
    if (rec) {
      error = ConnectError::Resolve;
      co_return false;
    }
    auto [cec, ep] = co_await asio::async_connect(c.stream, results, nothrow);
    ec = cec;
  }
  if (ec) {
    error = ConnectError::Refused;
    co_return false;
  }
  c.stream.set_option(tcp::no_delay(true), ec);
  co_return true;
}

// The handshake offers the destination's last session; a failure is logged (at most every
// few seconds per destination: a broken certificate fails every request) with its reason.
asio::awaitable<bool> UpstreamPool::handshake(UpstreamConnection& c,
                                              const config::UpstreamConfig& upstream,
                                              const tls::ClientContext& tls, Destination& d) {
  if (!d.session) d.session = std::make_shared<tls::SessionSlot>();
  std::string why;
  SSL* ssl = tls.new_connection(upstream.host, d.session, why);
  beast::error_code ec;
  if (ssl != nullptr) {
    c.tls = std::make_unique<TlsStream>(c.stream, ssl);
    auto [hec] = co_await c.tls->stream.async_handshake(asio::ssl::stream_base::client, nothrow);
    if (!hec) co_return true;
    ec = hec;
    why = tls::handshake_failure(ssl, ec.message());
    d.session->clear();
  }
  const auto now = std::chrono::steady_clock::now();
  if (ec != asio::error::operation_aborted && now - d.tls_failure_logged >= kTlsFailureLogEvery) {
    d.tls_failure_logged = now;
    spdlog::warn("upstream '{}': TLS handshake with {}:{} failed: {}", upstream.name, upstream.host,
                 upstream.port, why);
  }
  co_return false;
}

void UpstreamPool::release(const config::UpstreamConfig& upstream,
                           std::unique_ptr<UpstreamConnection> c) {
  auto& list = destinations_[c->key].idle;
  if (list.size() >= upstream.max_idle_connections) return;
  c->idle_since = std::chrono::steady_clock::now();
  list.push_back(std::move(c));
}

}  // namespace portcullis::proxy
