// The identity-provider HTTP client against a real loopback server (Beast, synchronous, on a
// thread): keep-alive reuse, a pooled connection the server closed, Connection: close.
#include "net/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <future>
#include <thread>

namespace portcullis::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Answers every request with 200 "n" (n = requests so far). After `requests_per_connection`
// answers it closes the connection: silently (as a server dropping an idle keep-alive
// connection), or announcing it with Connection: close when `announce_close`.
class Server {
 public:
  Server(int requests_per_connection, bool announce_close)
      : per_conn_(requests_per_connection), announce_(announce_close) {
    acceptor_.open(tcp::v4());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
    acceptor_.listen();
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~Server() {
    stop_ = true;
    // A blocking accept() does not notice close() from another thread: wake it by connecting.
    asio::io_context ioc;
    tcp::socket wake(ioc);
    beast::error_code ec;
    wake.connect({asio::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }
  unsigned short port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void serve() {
    while (!stop_) {
      tcp::socket s(ioc_);
      beast::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stop_) return;
      ++accepted_;
      beast::flat_buffer buf;
      for (int i = 0; i < per_conn_; ++i) {
        http::request<http::string_body> req;
        http::read(s, buf, req, ec);
        if (ec) break;
        http::response<http::string_body> res{http::status::ok, 11};
        res.body() = std::to_string(++requests_);
        const bool last = i + 1 == per_conn_;
        res.keep_alive(!(last && announce_));
        res.prepare_payload();
        http::write(s, res, ec);
        if (ec) break;
      }
      s.shutdown(tcp::socket::shutdown_both, ec);
      s.close(ec);
    }
  }

  asio::io_context ioc_;
  tcp::acceptor acceptor_{ioc_};
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  int requests_ = 0;
  const int per_conn_;
  const bool announce_;
};

config::FetchUrl url_of(unsigned short port) {
  config::FetchUrl u;
  std::string error;
  EXPECT_TRUE(
      config::parse_fetch_url("http://127.0.0.1:" + std::to_string(port) + "/jwks", u, error))
      << error;
  return u;
}

HttpResponse get(HttpClient& client, const config::FetchUrl& url) {
  std::promise<HttpResponse> p;
  client.get(url, {}, std::chrono::seconds(5), 1 << 20,
             [&](HttpResponse r) { p.set_value(std::move(r)); });
  return p.get_future().get();
}

TEST(HttpClient, ReusesAKeepAliveConnection) {
  Server server(100, false);
  HttpClient client;
  const auto url = url_of(server.port());
  for (int i = 1; i <= 5; ++i) {
    HttpResponse r = get(client, url);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.body, std::to_string(i));
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpClient, ReplacesAPooledConnectionTheServerClosed) {
  Server server(1, false);  // answers once per connection, then drops it without a word
  HttpClient client;
  const auto url = url_of(server.port());
  for (int i = 1; i <= 3; ++i) {
    HttpResponse r = get(client, url);
    ASSERT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.body, std::to_string(i));
  }
  EXPECT_EQ(server.accepted(), 3);
}

TEST(HttpClient, ConnectionCloseIsNotPooled) {
  Server server(1, true);
  HttpClient client;
  const auto url = url_of(server.port());
  ASSERT_TRUE(get(client, url).ok);
  HttpResponse r = get(client, url);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.body, "2");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(HttpClient, RefusedConnectionIsAnError) {
  unsigned short port;
  {
    Server server(1, true);
    port = server.port();
  }
  HttpClient client;
  HttpResponse r = get(client, url_of(port));
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("cannot connect"), std::string::npos) << r.error;
}

}  // namespace
}  // namespace portcullis::net
