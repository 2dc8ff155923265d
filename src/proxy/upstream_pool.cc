#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/nothrow.h"

namespace portcullis::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

std::string key_of(const config::UpstreamConfig& u) {
  return u.host + ':' + std::to_string(u.port);
}

// True when an idle connection has something to read: the peer closed (or reset) it, or sent
// bytes nobody asked for. Non-blocking peek.
bool readable(Socket& s) {
  char c;
  const ssize_t n = ::recv(s.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  if (n > 0) return true;  // unsolicited bytes: the connection is not in a known state
  return errno != EAGAIN && errno != EWOULDBLOCK;
}

}  // namespace

void UpstreamConnection::watch_idle() {
  if (!watch) watch = std::make_shared<IdleWatch>();
  watch->readable = false;
  stream.async_wait(Socket::wait_read, [w = watch, gen = watch->generation](beast::error_code ec) {
    if (!ec && w->generation == gen) w->readable = true;
  });
  watching = true;
}

asio::awaitable<std::unique_ptr<UpstreamConnection>> UpstreamPool::acquire(
    const config::UpstreamConfig& upstream, bool& reused, ConnectError& error,
    UpstreamConnection*& connecting, const bool& timed_out) {
  error = ConnectError::None;
  reused = false;
  std::string key = key_of(upstream);
  const auto now = std::chrono::steady_clock::now();
  const auto max_idle = std::chrono::seconds(upstream.idle_timeout_s);
  if (auto it = idle_.find(key); it != idle_.end()) {
    auto& list = it->second;
    while (!list.empty()) {
      auto c = std::move(list.back());
      list.pop_back();
      if (now - c->idle_since > max_idle) continue;
      if (c->watching) {
        if (c->watch->readable) continue;
        // Called off: the wait's handler, even one already queued, sees another generation.
        ++c->watch->generation;
        c->watching = false;
        beast::error_code ec;
        c->stream.cancel(ec);
      } else if (readable(c->stream)) {
        continue;
      }
      reused = true;
      co_return c;
    }
  }

  auto c = std::make_unique<UpstreamConnection>(ioc_);
  c->key = std::move(key);
  connecting = c.get();
  beast::error_code ec;
  auto addr = asio::ip::make_address(upstream.host, ec);
  if (!ec) {
    auto [cec] = co_await c->stream.async_connect(tcp::endpoint(addr, upstream.port), nothrow);
    ec = cec;
  } else {
    tcp::resolver resolver(ioc_);
    const std::string service = std::to_string(upstream.port);
    auto [rec, results] = co_await resolver.async_resolve(upstream.host, service, nothrow);
    if (rec) {
      connecting = nullptr;
      error = ConnectError::Resolve;
      co_return nullptr;
    }
    auto [cec, ep] = co_await asio::async_connect(c->stream, results, nothrow);
    ec = cec;
  }
  connecting = nullptr;
  if (ec) {
    error = timed_out ? ConnectError::Timeout : ConnectError::Refused;
    co_return nullptr;
  }
  c->stream.set_option(tcp::no_delay(true), ec);
  co_return c;
}

void UpstreamPool::release(const config::UpstreamConfig& upstream,
                           std::unique_ptr<UpstreamConnection> c) {
  auto& list = idle_[c->key];
  if (list.size() >= upstream.max_idle_connections) return;
  c->idle_since = std::chrono::steady_clock::now();
  list.push_back(std::move(c));
}

}  // namespace portcullis::proxy
