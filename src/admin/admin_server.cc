#include "admin/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "common/nothrow.h"
#include "observe/metrics.h"

namespace portcullis::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct AdminServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& i, std::function<runtime::Readiness()> r, std::function<std::string()> j)
      : ioc(i), acceptor(i), ready(std::move(r)), jwks(std::move(j)) {}
  asio::io_context& ioc;
  tcp::acceptor acceptor;
  std::function<runtime::Readiness()> ready;
  std::function<std::string()> jwks;

  // The signed identity context's public keys; false when there are none to serve.
  bool answer_jwks(http::response<http::string_body>& res) const {
    std::string keys = jwks ? jwks() : std::string();
    if (keys.empty()) return false;
    res.set(http::field::content_type, "application/json");
    res.set(http::field::cache_control, "max-age=60");
    res.body() = std::move(keys);
    return true;
  }

  asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    for (;;) {
      auto [ec, socket] = co_await acceptor.async_accept(nothrow);
      if (ec) {
        if (!acceptor.is_open()) co_return;
        continue;
      }
      asio::co_spawn(ioc, serve(self, std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<Impl> self, tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::empty_body> req;
      stream.expires_after(std::chrono::seconds(30));
      auto [ec, n] = co_await http::async_read(stream, buffer, req, nothrow);
      if (ec) break;
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.set(http::field::content_type, "text/plain; charset=utf-8");
      const std::string_view target = req.target();
      const std::string_view path = target.substr(0, target.find('?'));
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.body() = "method not allowed\n";
      } else if (path == "/healthz") {
        res.body() = "ok\n";
      } else if (path == "/readyz") {
        const runtime::Readiness r = self->ready();
        res.result(r.ready() ? http::status::ok : http::status::service_unavailable);
        res.set(http::field::content_type, "application/json");
        res.set(http::field::cache_control, "no-store");
        res.body() = r.json() + "\n";
      } else if (path == "/metrics") {
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.body() = observe::Metrics::global().render();
      } else if (path == "/.well-known/jwks.json" && self->answer_jwks(res)) {
        // answered from the current runtime's signer
      } else {
        res.result(http::status::not_found);
        res.body() = "not found\n";
      }
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      auto [wec, wn] = co_await http::async_write(stream, res, nothrow);
      if (wec || !res.keep_alive()) break;
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }
};

AdminServer::AdminServer(asio::io_context& ioc, std::function<runtime::Readiness()> ready,
                         std::function<std::string()> jwks)
    : impl_(std::make_shared<Impl>(ioc, std::move(ready), std::move(jwks))) {}

AdminServer::~AdminServer() {
  stop();
}

bool AdminServer::start(const config::ListenAddress& address, std::string& error) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(address.host == "localhost" ? "127.0.0.1" : address.host, ec);
  if (ec) {
    error = "admin listen address " + address.str() + ": " + ec.message();
    return false;
  }
  tcp::endpoint ep(addr, address.port);
  impl_->acceptor.open(ep.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(ep, ec);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = "admin listen " + address.str() + ": " + ec.message();
    return false;
  }
  asio::co_spawn(impl_->ioc, impl_->accept_loop(impl_), asio::detached);
  return true;
}

void AdminServer::stop() {
  beast::error_code ec;
  impl_->acceptor.close(ec);
}

}  // namespace portcullis::admin
