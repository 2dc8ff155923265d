// portcullis-echo: the upstream the integration tests put behind the gateway.
//
//   portcullis-echo --listen 127.0.0.1:0
//
// Prints "listening HOST:PORT" as its first line of stdout, then answers every request with
// a 200 JSON description of what it received:
//   {"method", "version", "target", "path", "query", "headers": [[name, value], ...],
//    "body_bytes", "body_sha256"}
// Bodies are read in 64 KiB pieces and hashed as they arrive, never held whole, so memory
// stays flat for uploads of any size. Control headers ask for special behaviour:
//   X-Echo-Status: N          answer with status N (200..599), still JSON
//   X-Echo-Delay-Ms: N        wait N ms (timer, the loop keeps serving others) before answering
//   X-Echo-Bytes: N           answer with N pattern bytes (byte i = i % 251), chunked
//   X-Echo-Bytes-Length: 1    ... with Content-Length instead of chunked
//   X-Echo-Close: 1           close right after the request head, without answering
//   X-Echo-Set-Header: N: v   add response header N: v (may be repeated)
// Single-threaded, keep-alive, pipelined requests answered in order.

#include <openssl/evp.h>
#include <signal.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kPiece = 64 * 1024;
constexpr std::uint64_t kPatternModulus = 251;
constexpr std::uint32_t kMaxHeaderBytes = 1024 * 1024;
constexpr std::uint64_t kMaxDelayMs = 10 * 60 * 1000;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// --- small helpers --------------------------------------------------------------------------

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::optional<std::uint64_t> parse_uint(std::string_view s) {
  s = trim(s);
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Header values may carry obs-text bytes; JSON strings must be UTF-8. Valid UTF-8 passes
// through; anything else is read as Latin-1 (as Python's http.client does) and re-encoded.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (b & 0x3F);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

json::string to_json_string(std::string_view s) {
  if (valid_utf8(s)) return json::string(s);
  json::string out;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool valid_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
  }
  return true;
}

bool valid_field_value(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && u != '\t') || u == 0x7F) return false;
  }
  return true;
}

// SHA-256 over a stream of pieces, via OpenSSL EVP.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    if (ctx_ == nullptr || EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) != 1)
      throw std::runtime_error("EVP_DigestInit_ex failed");
  }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, std::size_t n) {
    if (n > 0 && EVP_DigestUpdate(ctx_, data, n) != 1)
      throw std::runtime_error("EVP_DigestUpdate failed");
  }
  std::string hex() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, md.data(), &len) != 1)
      throw std::runtime_error("EVP_DigestFinal_ex failed");
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
      out.push_back(kHex[md[i] >> 4]);
      out.push_back(kHex[md[i] & 0xF]);
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// The pattern, long enough that any 64 KiB window starting at offset (i % 251) is a slice.
const std::vector<char>& pattern() {
  static const std::vector<char> p = [] {
    std::vector<char> v(kPiece + kPatternModulus);
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<char>(i % kPatternModulus);
    return v;
  }();
  return p;
}

// What the control headers of one request asked for.
struct Controls {
  unsigned status = 200;
  std::uint64_t delay_ms = 0;
  std::optional<std::uint64_t> bytes;
  bool bytes_with_length = false;
  bool close = false;
  std::vector<std::pair<std::string, std::string>> set_headers;
};

Controls read_controls(const http::fields& f) {
  Controls c;
  for (const auto& h : f) {
    std::string_view name = h.name_string();
    std::string_view value = h.value();
    if (iequals(name, "X-Echo-Status")) {
      if (auto v = parse_uint(value); v && *v >= 200 && *v <= 599) c.status = static_cast<unsigned>(*v);
    } else if (iequals(name, "X-Echo-Delay-Ms")) {
      if (auto v = parse_uint(value)) c.delay_ms = std::min(*v, kMaxDelayMs);
    } else if (iequals(name, "X-Echo-Bytes")) {
      if (auto v = parse_uint(value)) c.bytes = *v;
    } else if (iequals(name, "X-Echo-Bytes-Length")) {
      c.bytes_with_length = trim(value) == "1";
    } else if (iequals(name, "X-Echo-Close")) {
      c.close = trim(value) == "1";
    } else if (iequals(name, "X-Echo-Set-Header")) {
      auto colon = value.find(':');
      if (colon == std::string_view::npos) continue;
      auto n = trim(value.substr(0, colon));
      auto v = trim(value.substr(colon + 1));
      if (valid_token(n) && valid_field_value(v)) c.set_headers.emplace_back(n, v);
    }
  }
  return c;
}

bool no_body_status(unsigned status) { return status == 204 || status == 304; }

// --- one connection -------------------------------------------------------------------------

class Session {
 public:
  explicit Session(tcp::socket sock) : sock_(std::move(sock)) {}

  asio::awaitable<void> run() {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::buffer_body> parser;
      parser.body_limit(boost::none);
      parser.header_limit(kMaxHeaderBytes);

      auto [ec, n] = co_await http::async_read_header(sock_, buf, parser, use_tuple);
      (void)n;
      if (ec) {
        if (ec != http::error::end_of_stream && ec != asio::error::eof &&
            ec != asio::error::connection_reset && ec != asio::error::operation_aborted)
          co_await send_error(http::status::bad_request, ec.message());
        co_return;
      }
      auto& req = parser.get();
      Controls ctl = read_controls(req);

      if (ctl.close) {
        beast::error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_both, ignored);
        sock_.close(ignored);
        co_return;
      }

      // Expect: 100-continue is answered before the body is read.
      if (!parser.is_done()) {
        auto expect = req[http::field::expect];
        if (iequals(trim(expect), "100-continue")) {
          http::response<http::empty_body> cont{http::status::continue_, 11};
          auto [wec, wn] = co_await http::async_write(sock_, cont, use_tuple);
          (void)wn;
          if (wec) co_return;
        }
      }

      // Body: read and hash in pieces, never held whole.
      Sha256 sha;
      std::uint64_t body_bytes = 0;
      std::vector<char> piece(kPiece);
      while (!parser.is_done()) {
        req.body().data = piece.data();
        req.body().size = piece.size();
        auto [rec, rn] = co_await http::async_read(sock_, buf, parser, use_tuple);
        (void)rn;
        if (rec == http::error::need_buffer) rec = {};
        if (rec) {
          if (rec != http::error::end_of_stream && rec != asio::error::eof &&
              rec != asio::error::connection_reset && rec != http::error::partial_message)
            co_await send_error(http::status::bad_request, rec.message());
          co_return;
        }
        std::size_t got = piece.size() - req.body().size;
        sha.update(piece.data(), got);
        body_bytes += got;
      }

      if (ctl.delay_ms > 0) {
        asio::steady_timer timer(sock_.get_executor());
        timer.expires_after(std::chrono::milliseconds(ctl.delay_ms));
        auto [tec] = co_await timer.async_wait(use_tuple);
        (void)tec;
      }

      bool keep_alive = req.keep_alive();
      bool head = req.method() == http::verb::head;
      bool ok = false;
      if (ctl.bytes && !no_body_status(ctl.status)) {
        ok = co_await send_bytes(req, ctl, *ctl.bytes, head, keep_alive);
      } else {
        json::object o;
        o["method"] = to_json_string(req.method_string());
        o["version"] = req.version() == 10 ? "1.0" : "1.1";
        std::string_view target = req.target();
        auto q = target.find('?');
        o["target"] = to_json_string(target);
        o["path"] = to_json_string(target.substr(0, q));
        o["query"] = q == std::string_view::npos ? json::string() : to_json_string(target.substr(q + 1));
        json::array headers;
        for (const auto& h : req) {
          headers.emplace_back(json::array{to_json_string(h.name_string()), to_json_string(h.value())});
        }
        o["headers"] = std::move(headers);
        o["body_bytes"] = body_bytes;
        o["body_sha256"] = sha.hex();
        ok = co_await send_json(req, ctl, json::serialize(o), head, keep_alive);
      }
      if (!ok) co_return;
      if (!keep_alive) {
        beast::error_code ignored;
        sock_.shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
    }
  }

 private:
  // Applies X-Echo-Set-Header and keep-alive to a response; a Connection header set through
  // X-Echo-Set-Header that says "close" also makes echo close after answering.
  template <class Body>
  void finish_headers(http::response<Body>& res, const Controls& ctl, bool& keep_alive) {
    res.set(http::field::server, "portcullis-echo");
    res.keep_alive(keep_alive);
    for (const auto& [name, value] : ctl.set_headers) {
      if (iequals(name, "Connection")) {
        res.set(http::field::connection, value);
        std::string lower(value);
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (lower.find("close") != std::string::npos) keep_alive = false;
        else if (!keep_alive) res.set(http::field::connection, value + ", close");
      } else {
        res.insert(name, value);
      }
    }
  }

  asio::awaitable<bool> send_json(const http::request<http::buffer_body>& req, const Controls& ctl,
                                  std::string body, bool head, bool& keep_alive) {
    http::response<http::string_body> res{static_cast<http::status>(ctl.status), req.version()};
    res.set(http::field::content_type, "application/json");
    if (no_body_status(ctl.status)) body.clear();
    res.body() = std::move(body);
    res.prepare_payload();
    finish_headers(res, ctl, keep_alive);
    http::response_serializer<http::string_body> sr{res};
    beast::error_code ec;
    if (head) {
      std::tie(ec, std::ignore) = co_await http::async_write_header(sock_, sr, use_tuple);
    } else {
      std::tie(ec, std::ignore) = co_await http::async_write(sock_, sr, use_tuple);
    }
    co_return !ec;
  }

  asio::awaitable<bool> send_bytes(const http::request<http::buffer_body>& req, const Controls& ctl,
                                   std::uint64_t total, bool head, bool& keep_alive) {
    http::response<http::buffer_body> res{static_cast<http::status>(ctl.status), req.version()};
    res.set(http::field::content_type, "application/octet-stream");
    bool chunked = !ctl.bytes_with_length && req.version() >= 11;
    if (chunked) res.chunked(true);
    else res.content_length(total);
    finish_headers(res, ctl, keep_alive);

    res.body().data = nullptr;
    res.body().more = true;
    http::response_serializer<http::buffer_body> sr{res};
    auto [hec, hn] = co_await http::async_write_header(sock_, sr, use_tuple);
    (void)hn;
    if (hec) co_return false;
    if (head) co_return true;

    const auto& pat = pattern();
    std::uint64_t sent = 0;
    while (sent < total) {
      std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(kPiece, total - sent));
      res.body().data = const_cast<char*>(pat.data() + sent % kPatternModulus);
      res.body().size = n;
      res.body().more = true;
      auto [ec, wn] = co_await http::async_write(sock_, sr, use_tuple);
      (void)wn;
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return false;
      sent += n;
    }
    res.body().data = nullptr;
    res.body().size = 0;
    res.body().more = false;
    auto [ec, wn] = co_await http::async_write(sock_, sr, use_tuple);
    (void)wn;
    co_return !ec;
  }

  asio::awaitable<void> send_error(http::status status, std::string message) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::server, "portcullis-echo");
    res.keep_alive(false);
    res.body() = json::serialize(json::object{{"error", to_json_string(message)}});
    res.prepare_payload();
    auto [ec, n] = co_await http::async_write(sock_, res, use_tuple);
    (void)ec;
    (void)n;
    beast::error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  tcp::socket sock_;
};

asio::awaitable<void> serve(tcp::socket sock) {
  try {
    beast::error_code ignored;
    sock.set_option(tcp::no_delay(true), ignored);
    Session s(std::move(sock));
    co_await s.run();
  } catch (const std::exception& e) {
    std::cerr << "portcullis-echo: connection error: " << e.what() << std::endl;
  }
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    auto [ec, sock] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {
      // Out of descriptors or similar: back off briefly instead of spinning.
      asio::steady_timer t(ex);
      t.expires_after(std::chrono::milliseconds(50));
      co_await t.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(ex, serve(std::move(sock)), asio::detached);
  }
}

std::optional<tcp::endpoint> parse_listen(std::string_view s) {
  std::string_view host;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') return std::nullopt;
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
  }
  auto p = parse_uint(port);
  if (!p || *p > 65535) return std::nullopt;
  if (host == "localhost") host = "127.0.0.1";
  beast::error_code ec;
  auto addr = asio::ip::make_address(std::string(host), ec);
  if (ec) return std::nullopt;
  return tcp::endpoint(addr, static_cast<unsigned short>(*p));
}

int usage() {
  std::cerr << "usage: portcullis-echo --listen HOST:PORT   (port 0 picks a free port)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<tcp::endpoint> listen;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--listen" && i + 1 < argc) {
      listen = parse_listen(argv[++i]);
      if (!listen) return usage();
    } else if (a.starts_with("--listen=")) {
      listen = parse_listen(a.substr(9));
      if (!listen) return usage();
    } else {
      return usage();
    }
  }
  if (!listen) return usage();
  ::signal(SIGPIPE, SIG_IGN);

  try {
    asio::io_context io(1);
    tcp::acceptor acceptor(io);
    acceptor.open(listen->protocol());
    acceptor.set_option(asio::socket_base::reuse_address(true));
    acceptor.bind(*listen);
    acceptor.listen(asio::socket_base::max_listen_connections);
    auto bound = acceptor.local_endpoint();
    std::string host = bound.address().to_string();
    if (bound.address().is_v6()) host = "[" + host + "]";
    std::cout << "listening " << host << ":" << bound.port() << std::endl;

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code&, int) { io.stop(); });
    asio::co_spawn(io, accept_loop(acceptor), asio::detached);
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "portcullis-echo: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
