#include "net/http_client.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/nothrow.h"
#include "tls/client_context.h"

namespace portcullis::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct Request {
  http::verb method = http::verb::get;
  config::FetchUrl url;
  HeaderList headers;
  std::string body;
  std::string content_type;
  std::chrono::milliseconds timeout{3000};
  std::size_t max_body = 1 << 20;
  TlsContext tls;  // used for https
};

// Where connections and sessions are pooled: host:port, and the TLS context for https (a
// session or a connection verified under some settings is never used under others).
std::string pool_key(const Request& req) {
  std::string key = req.url.host + ":" + std::to_string(req.url.port);
  if (req.url.https) key += "#tls" + std::to_string(req.tls ? req.tls->id() : 0);
  return key;
}

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

// Keep-alive connections to identity providers, by host:port. Touched only on the client's
// thread (every exchange runs there), so no lock. Without reuse, a provider asked on every
// request (introspection with cache_s: 0) would cost a connection per request, and at a few
// thousand requests a second the gateway's ephemeral ports would run out in TIME_WAIT.
class ConnectionPool {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kIdlePerHost = 32;
  static constexpr auto kIdleFor = std::chrono::seconds(20);

  struct Conn {
    explicit Conn(const asio::any_io_executor& ex) : stream(ex) {}
    beast::tcp_stream stream;
    std::unique_ptr<asio::ssl::stream<beast::tcp_stream&>> tls;  // over `stream`, for https
    Clock::time_point idle_since{};
  };
  using ConnPtr = std::unique_ptr<Conn>;

  // An idle connection to `key` that has not been idle too long, or null.
  ConnPtr take(const std::string& key) {
    auto it = idle_.find(key);
    if (it == idle_.end()) return nullptr;
    auto& list = it->second;
    const auto now = Clock::now();
    while (!list.empty()) {
      ConnPtr c = std::move(list.back());
      list.pop_back();
      if (now - c->idle_since < kIdleFor && c->stream.socket().is_open()) return c;
    }
    return nullptr;
  }

  // The resumable TLS session of a destination (created on first use).
  const std::shared_ptr<tls::SessionSlot>& session(const std::string& key) {
    auto& slot = sessions_[key];
    if (!slot) slot = std::make_shared<tls::SessionSlot>();
    return slot;
  }

  void give(const std::string& key, ConnPtr c) {
    auto& list = idle_[key];
    if (list.size() >= kIdlePerHost) return;  // closed as it goes
    c->stream.expires_never();
    c->idle_since = Clock::now();
    list.push_back(std::move(c));
  }

 private:
  std::unordered_map<std::string, std::vector<ConnPtr>> idle_;
  std::unordered_map<std::string, std::shared_ptr<tls::SessionSlot>> sessions_;
};

// The TLS handshake on a new connection (within the stream's deadline). False with `error`
// set when it fails: the request fails then, it never goes in clear text.
asio::awaitable<bool> handshake(ConnectionPool::Conn& conn, const Request& req,
                                const std::shared_ptr<tls::SessionSlot>& slot, std::string& error) {
  const std::string where = req.url.host + ":" + std::to_string(req.url.port);
  if (!req.tls) {
    error = "https://" + where + " has no TLS settings";
    co_return false;
  }
  std::string why;
  SSL* ssl = req.tls->new_connection(req.url.host, slot, why);
  if (ssl == nullptr) {
    error = why;
    co_return false;
  }
  conn.tls = std::make_unique<asio::ssl::stream<beast::tcp_stream&>>(conn.stream, ssl);
  auto [ec] = co_await conn.tls->async_handshake(asio::ssl::stream_base::client, nothrow);
  if (ec) {
    slot->clear();
    error = "TLS handshake with " + where + " failed: " +
            (ec == beast::error::timeout ? std::string("timed out")
                                         : tls::handshake_failure(ssl, ec.message()));
    co_return false;
  }
  co_return true;
}

struct RoundTrip {
  beast::error_code write;  // set when sending failed (nothing was read then)
  beast::error_code read;
};

// Beast's http::async_read, one read per wake-up and the parse in this frame: a trailer
// section or chunk line without end is refused at 64 KiB (Beast's own read would grow the
// buffer), and a field past Beast's 64 KiB limit is an error, not an exception thrown from
// inside the read (where nothing would catch it).
template <class Stream>
asio::awaitable<beast::error_code> read_response(Stream& s, beast::flat_buffer& buffer,
                                                 http::response_parser<http::string_body>& p) {
  constexpr std::size_t kMaxPending = 64 * 1024;
  p.eager(true);
  for (;;) {
    if (buffer.size() > 0) {
      beast::error_code ec;
      std::size_t used = 0;
      try {
        used = p.put(buffer.data(), ec);
      } catch (const std::length_error&) {
        co_return http::error::header_limit;
      }
      buffer.consume(used);
      if (p.is_done()) co_return beast::error_code{};
      if (ec && ec != http::error::need_more) co_return ec;
      if (used > 0 && buffer.size() > 0) continue;
    }
    if (buffer.size() >= kMaxPending) co_return http::error::header_limit;
    auto [ec, n] = co_await s.async_read_some(buffer.prepare(16 * 1024), nothrow);
    if (ec == asio::error::eof) {
      if (!p.got_some()) co_return http::error::end_of_stream;
      beast::error_code pec;
      p.put_eof(pec);
      co_return pec;
    }
    if (ec) co_return ec;
    buffer.commit(n);
  }
}

// Sends the request and reads the answer, over TCP or TLS.
template <class Stream>
asio::awaitable<RoundTrip> round_trip(Stream& s, http::request<http::string_body>& r,
                                      beast::flat_buffer& buffer,
                                      http::response_parser<http::string_body>& parser) {
  RoundTrip t;
  auto [wec, wn] = co_await http::async_write(s, r, nothrow);
  if (wec) {
    t.write = wec;
    co_return t;
  }
  t.read = co_await read_response(s, buffer, parser);
  co_return t;
}

// A new connection to the request's host within `deadline`; null with `error` set on failure.
asio::awaitable<ConnectionPool::ConnPtr> connect(const Request& req,
                                                 std::chrono::steady_clock::time_point deadline,
                                                 const std::shared_ptr<tls::SessionSlot>& slot,
                                                 std::string& error) {
  auto ex = co_await asio::this_coro::executor;
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
  const std::string port = std::to_string(req.url.port);
  auto [ec, results] = co_await resolver->async_resolve(req.url.host, port, nothrow);
  timer->cancel();
  if (ec) {
    error = "cannot resolve " + req.url.host + ": " + describe(ec, *flag);
    co_return nullptr;
  }
  auto conn = std::make_unique<ConnectionPool::Conn>(ex);
  conn->stream.expires_at(deadline);
  auto [cec, ep] = co_await conn->stream.async_connect(results, nothrow);
  if (cec) {
    error = "cannot connect to " + req.url.host + ":" + port + ": " + describe(cec, false);
    co_return nullptr;
  }
  // A request may leave in more than one segment (head, then body); with Nagle on, the second
  // waits for the provider's delayed ACK (~40 ms) on a kept-alive connection.
  boost::system::error_code ignored;
  conn->stream.socket().set_option(tcp::no_delay(true), ignored);
  if (req.url.https && !co_await handshake(*conn, req, slot, error)) co_return nullptr;
  co_return conn;
}

asio::awaitable<void> exchange(ConnectionPool& pool, Request req, HttpCallback done) {
  HttpResponse res;
  const auto deadline = std::chrono::steady_clock::now() + req.timeout;
  const std::string key = pool_key(req);

  http::request<http::string_body> r{req.method, req.url.target, 11};
  r.set(http::field::host, req.url.host_header);
  r.set(http::field::user_agent, "portcullis/" PORTCULLIS_VERSION);
  for (const auto& [k, v] : req.headers) r.set(k, v);
  if (req.method == http::verb::post) {
    r.set(http::field::content_type, req.content_type);
    r.body() = std::move(req.body);
    r.prepare_payload();
  }

  // A pooled connection the provider has closed in the meantime fails before any answer
  // byte: the request is then sent once more on a new connection (GET and introspection
  // are safe to repeat).
  for (int attempt = 0; attempt < 2; ++attempt) {
    ConnectionPool::ConnPtr conn = pool.take(key);
    const bool reused = conn != nullptr;
    if (!conn) {
      std::string error;
      conn = co_await connect(req, deadline, pool.session(key), error);
      if (!conn) {
        res.error = std::move(error);
        break;
      }
    }
    conn->stream.expires_at(deadline);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(req.max_body);
    parser.header_limit(64 * 1024);
    const RoundTrip t = conn->tls ? co_await round_trip(*conn->tls, r, buffer, parser)
                                  : co_await round_trip(conn->stream, r, buffer, parser);
    if (t.write) {
      if (reused && attempt == 0) continue;
      res.error = "sending the request failed: " + describe(t.write, false);
      break;
    }
    if (const auto rec = t.read) {
      if (reused && attempt == 0 && !parser.got_some() && rec != beast::error::timeout) continue;
      res.error = rec == http::error::body_limit
                      ? "the response is larger than " + std::to_string(req.max_body) + " bytes"
                      : "reading the response failed: " + describe(rec, false);
      break;
    }
    const bool keep = parser.keep_alive() && buffer.size() == 0;
    auto msg = parser.release();
    res.ok = true;
    res.status = msg.result_int();
    for (const auto& f : msg) res.headers.emplace_back(f.name_string(), f.value());
    res.body = std::move(msg.body());
    if (keep) {
      pool.give(key, std::move(conn));
    } else {
      boost::system::error_code ignored;
      conn->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }
    break;
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
  ConnectionPool pool;  // used on `thread` only

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
    asio::co_spawn(ioc, exchange(pool, std::move(req), std::move(done)), asio::detached);
  }

  void stop() {
    if (thread.joinable()) {
      guard.reset();
      ioc.stop();
      thread.join();
    }
  }

  ~Impl() { stop(); }
};

HttpClient& HttpClient::shared() {
  static HttpClient client;
  return client;
}

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() = default;

void HttpClient::stop() {
  impl_->stop();
}

void HttpClient::get(const config::FetchUrl& url, HeaderList headers,
                     std::chrono::milliseconds timeout, std::size_t max_body, HttpCallback done,
                     TlsContext tls) {
  Request r;
  r.url = url;
  r.tls = std::move(tls);
  r.headers = std::move(headers);
  r.timeout = timeout;
  r.max_body = max_body;
  impl_->start(std::move(r), std::move(done));
}

void HttpClient::post_form(const config::FetchUrl& url, HeaderList headers, HeaderList form,
                           std::chrono::milliseconds timeout, std::size_t max_body,
                           HttpCallback done, TlsContext tls) {
  Request r;
  r.method = http::verb::post;
  r.url = url;
  r.tls = std::move(tls);
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
