#include "net/http_client.h"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <optional>
#include <thread>

namespace portcullis::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto nothrow = asio::as_tuple(asio::use_awaitable);

struct Request {
  http::verb method = http::verb::get;
  config::FetchUrl url;
  HeaderList headers;
  std::string body;
  std::string content_type;
  std::chrono::milliseconds timeout{3000};
  std::size_t max_body = 1 << 20;
};

std::string form_encode(const HeaderList& fields) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const auto& [k, v] : fields) {
    if (!out.empty()) out += '&';
    for (const std::string* s : {&k, &v}) {
      for (unsigned char c : *s) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
          out += static_cast<char>(c);
        } else if (c == ' ') {
          out += '+';
        } else {
          out += '%';
          out += kHex[c >> 4];
          out += kHex[c & 15];
        }
      }
      if (s == &k) out += '=';
    }
  }
  return out;
}

std::string describe(const boost::system::error_code& ec, bool timed_out) {
  if (timed_out || ec == beast::error::timeout) return "timed out";
  return ec.message();
}

asio::awaitable<void> exchange(Request req, HttpCallback done) {
  HttpResponse res;
  auto ex = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + req.timeout;
  {
    // Resolving cannot be bounded by the stream's timer; a timer cancels it instead.
    auto resolver = std::make_shared<tcp::resolver>(ex);
    auto timer = std::make_shared<asio::steady_timer>(ex, deadline);
    auto flag = std::make_shared<bool>(false);
    timer->async_wait([resolver, flag](const boost::system::error_code& ec) {
      if (!ec) {
        *flag = true;
        resolver->cancel();
      }
    });
    auto [ec, results] = co_await resolver->async_resolve(
        req.url.host, std::to_string(req.url.port), nothrow);
    timer->cancel();
    if (ec) {
      res.error = "cannot resolve " + req.url.host + ": " + describe(ec, *flag);
      done(std::move(res));
      co_return;
    }
    beast::tcp_stream stream(ex);
    stream.expires_at(deadline);
    auto [cec, ep] = co_await stream.async_connect(results, nothrow);
    if (cec) {
      res.error = "cannot connect to " + req.url.host + ":" + std::to_string(req.url.port) + ": " +
                  describe(cec, false);
      done(std::move(res));
      co_return;
    }
    http::request<http::string_body> r{req.method, req.url.target, 11};
    r.set(http::field::host, req.url.host_header);
    r.set(http::field::user_agent, "portcullis/" PORTCULLIS_VERSION);
    r.set(http::field::connection, "close");
    for (const auto& [k, v] : req.headers) r.set(k, v);
    if (req.method == http::verb::post) {
      r.set(http::field::content_type, req.content_type);
      r.body() = std::move(req.body);
      r.prepare_payload();
    }
    auto [wec, wn] = co_await http::async_write(stream, r, nothrow);
    if (wec) {
      res.error = "sending the request failed: " + describe(wec, false);
      done(std::move(res));
      co_return;
    }
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(req.max_body);
    parser.header_limit(64 * 1024);
    auto [rec, rn] = co_await http::async_read(stream, buffer, parser, nothrow);
    if (rec) {
      res.error = rec == http::error::body_limit
                      ? "the response is larger than " + std::to_string(req.max_body) + " bytes"
                      : "reading the response failed: " + describe(rec, false);
      done(std::move(res));
      co_return;
    }
    auto msg = parser.release();
    res.ok = true;
    res.status = msg.result_int();
    for (const auto& f : msg) res.headers.emplace_back(f.name_string(), f.value());
    res.body = std::move(msg.body());
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }
  done(std::move(res));
}

}  // namespace

std::string_view HttpResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (beast::iequals(k, name)) return v;
  }
  return {};
}

struct HttpClient::Impl {
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  std::once_flag once;

  void ensure_started() {
    std::call_once(once, [this] {
      guard.emplace(ioc.get_executor());
      thread = std::thread([this] {
        for (;;) {
          try {
            ioc.run();
            break;
          } catch (const std::exception& e) {
            spdlog::error("http client: unexpected error: {}", e.what());
          }
        }
      });
    });
  }

  void start(Request req, HttpCallback done) {
    ensure_started();
    asio::co_spawn(ioc, exchange(std::move(req), std::move(done)), asio::detached);
  }

  ~Impl() {
    if (thread.joinable()) {
      guard.reset();
      ioc.stop();
      thread.join();
    }
  }
};

HttpClient& HttpClient::shared() {
  static HttpClient client;
  return client;
}

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() = default;

void HttpClient::get(const config::FetchUrl& url, HeaderList headers,
                     std::chrono::milliseconds timeout, std::size_t max_body, HttpCallback done) {
  Request r;
  r.url = url;
  r.headers = std::move(headers);
  r.timeout = timeout;
  r.max_body = max_body;
  impl_->start(std::move(r), std::move(done));
}

void HttpClient::post_form(const config::FetchUrl& url, HeaderList headers, HeaderList form,
                           std::chrono::milliseconds timeout, std::size_t max_body,
                           HttpCallback done) {
  Request r;
  r.method = http::verb::post;
  r.url = url;
  r.headers = std::move(headers);
  r.body = form_encode(form);
  r.content_type = "application/x-www-form-urlencoded";
  r.timeout = timeout;
  r.max_body = max_body;
  impl_->start(std::move(r), std::move(done));
}

void HttpClient::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  impl_->ensure_started();
  auto timer = std::make_shared<asio::steady_timer>(impl_->ioc, delay);
  timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
    if (!ec) fn();
  });
}

}  // namespace portcullis::net
