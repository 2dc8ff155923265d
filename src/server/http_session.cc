// One client connection: the request's one-way flow (read → check → route → sanitize →
// authenticate → policy → forward → relay) as a coroutine per connection, in named steps.
// Every refusal leaves through reject() (gateway_error.h), which answers and logs.
#include "server/http_session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <optional>

#include "common/nothrow.h"
#include "identity/forwarder.h"
#include "identity/request_id.h"
#include "observe/metrics.h"
#include "proxy/headers.h"
#include "proxy/path.h"
#include "server/auth_wait.h"
#include "server/framing.h"
#include "server/message_io.h"
#include "server/worker.h"
#include "spdlog/spdlog.h"

namespace portcullis::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t kBody = Worker::kBodyBufferSize;

std::chrono::milliseconds seconds(double s) {
  return std::chrono::milliseconds(static_cast<long long>(s * 1000));
}

using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = UpstreamResponse;
using Request = http::request<http::buffer_body>;

// Everything that belongs to one request, reset by assignment when the next one starts.
// Names point into the runtime, which the request holds until it is logged.
struct RequestState {
  Clock::time_point start;  // first byte of the head
  std::string method;
  unsigned version = 11;
  bool keep_alive = false;  // what the client asked for
  bool is_head = false;
  proxy::Target target;  // normalised; empty when the target was refused
  std::string request_id;
  std::string_view request_id_header;  // its name (config)
  std::string_view route_name;
  std::string_view upstream_name;
  std::string_view reason;  // from the refusal tables
  identity::Identity who;
  unsigned status = 0;
  std::uint64_t bytes_in = 0, bytes_out = 0;
};

// How a body pump ended.
enum class PumpEnd { Done, ReadFailed, WriteFailed };
struct PumpResult {
  PumpEnd end;
  beast::error_code ec;
};

// Returns the worker's body buffer when the request ends, whichever way it ends.
struct BodyBuffer {
  explicit BodyBuffer(Worker& w) : worker(w), data(w.take_buffer()) {}
  ~BodyBuffer() { worker.give_buffer(std::move(data)); }
  Worker& worker;
  std::unique_ptr<char[]> data;
};

}  // namespace

struct HttpSession::Impl {
  Impl(proxy::Socket socket, Worker& w) : client(std::move(socket)), worker(w) {
    beast::error_code ec;
    auto ep = client.remote_endpoint(ec);
    if (!ec) client_ip = ep.address().to_string();
    client.set_option(tcp::no_delay(true), ec);
  }

  // The connection.
  proxy::Socket client;
  beast::flat_buffer buffer;  // bytes from the client not yet parsed (pipelining)
  Worker& worker;
  std::string client_ip;
  bool idle = false;
  OutgoingMessage out;        // the message being written (request up, then response down)
  AuthWait auth_wait;         // the auth chain's answer for the current request
  auth::CredentialMemo memo;  // the last credential a mechanism accepted on this connection
  // Header lines the gateway writes after a message's own fields (reused buffers): Host,
  // X-Forwarded-* and the identity upstream; the request id and framing downstream.
  std::string upstream_lines;
  std::string client_lines;

  // One deadline at a time (the session's operations are sequential); the worker's sweeper
  // cancels the client socket and the upstream in use once it passes.
  Clock::time_point deadline = Clock::time_point::max();
  bool timed_out = false;
  proxy::UpstreamConnection* upstream_in_use = nullptr;
  std::chrono::seconds body_timeout{30};
  template <class Duration>
  void arm(Duration d) {
    timed_out = false;
    deadline = worker.now() + std::chrono::duration_cast<Clock::duration>(d);
  }
  void disarm() { deadline = Clock::time_point::max(); }

  // The current request.
  std::optional<RequestParser> parser;
  RequestState rq;

  asio::awaitable<void> run(std::shared_ptr<HttpSession> self);
  // Reading the head: false when the connection ended quietly (or `refusal` is set).
  asio::awaitable<bool> read_head(const config::ServerConfig& sc,
                                  std::optional<GatewayError>& refusal);
  asio::awaitable<bool> await_first_byte(const config::ServerConfig& sc);
  std::optional<GatewayError> parse_head(const config::ServerConfig& sc, std::size_t head_len);
  // One request, once its head is read: returns whether the connection stays open.
  asio::awaitable<bool> handle(const std::shared_ptr<const runtime::Runtime>& rt);
  void begin_request(const runtime::Runtime& rt, Request& req);
  asio::awaitable<std::optional<Refusal>> authenticate(const runtime::RouteRuntime& route,
                                                       Request& req);
  asio::awaitable<bool> send_continue(Request& req);
  bool prepare_upstream_request(const runtime::Runtime& rt, const runtime::RouteRuntime& route,
                                Request& req);
  asio::awaitable<bool> forward(const runtime::Runtime& rt, const runtime::RouteRuntime& route,
                                Request& req);
  // The upstream exchange: a connection, the request sent, the response head read.
  asio::awaitable<std::optional<GatewayError>> exchange(
      const config::UpstreamConfig& up, Request& req, char* body,
      std::unique_ptr<proxy::UpstreamConnection>& conn, std::optional<ResponseParser>& rp);
  asio::awaitable<std::optional<GatewayError>> connect(
      const config::UpstreamConfig& up, bool& reused,
      std::unique_ptr<proxy::UpstreamConnection>& conn);
  asio::awaitable<std::optional<GatewayError>> send_request(Request& req,
                                                            proxy::UpstreamConnection& conn,
                                                            char* body, bool first_attempt);
  asio::awaitable<std::optional<GatewayError>> read_response_head(
      const config::UpstreamConfig& up, proxy::UpstreamConnection& conn,
      std::optional<ResponseParser>& rp);
  asio::awaitable<bool> relay_response(const config::UpstreamConfig& up,
                                       std::unique_ptr<proxy::UpstreamConnection>& conn,
                                       ResponseParser& rp, char* body);
  // Streams the rest of a body from `src` to `dst` through `body` (the one body pump, for
  // both directions). `eof_ends_body`: the message is delimited by the peer closing.
  template <class Parser>
  asio::awaitable<PumpResult> pump(Parser& p, proxy::Socket& src, beast::flat_buffer& srcbuf,
                                   proxy::Socket& dst, char* body, bool eof_ends_body,
                                   std::uint64_t& read_bytes, std::uint64_t& written_bytes);
  // Answers a refusal, counts and logs it; returns whether the connection stays open.
  asio::awaitable<bool> reject(const runtime::Runtime& rt, const Refusal& r);
  void count(Counter counter, std::string_view reason);
  void log_request(const runtime::Runtime& rt);
};

HttpSession::HttpSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void HttpSession::start(proxy::Socket socket, Worker& worker) {
  auto session = std::shared_ptr<HttpSession>(
      new HttpSession(std::make_unique<Impl>(std::move(socket), worker)));
  worker.sessions().insert(session.get());
  worker.state().active_sessions.fetch_add(1);
  asio::co_spawn(worker.ioc(), session->impl_->run(session), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("session ended by an unexpected error: {}", ex.what());
    }
  });
}

void HttpSession::close_idle() {
  if (!impl_->idle) return;
  beast::error_code ec;
  impl_->client.shutdown(tcp::socket::shutdown_both, ec);
  impl_->client.close(ec);
}

void HttpSession::check_deadline(Clock::time_point now) {
  Impl& d = *impl_;
  if (now < d.deadline) return;
  d.deadline = Clock::time_point::max();
  d.timed_out = true;
  beast::error_code ec;
  d.client.cancel(ec);
  if (d.upstream_in_use) d.upstream_in_use->stream.cancel(ec);
}

asio::awaitable<void> HttpSession::Impl::run(std::shared_ptr<HttpSession> self) {
  for (;;) {
    // Held, not referenced: a reload swaps the worker's runtime while this request waits.
    const std::shared_ptr<const runtime::Runtime> rt = worker.runtime();
    rq = RequestState{};
    body_timeout = std::chrono::seconds(rt->config->server.body_timeout_s);
    std::optional<GatewayError> refusal;
    if (!co_await read_head(rt->config->server, refusal)) {
      if (!refusal) break;
      // The request could not even be read: answer, log, and close.
      rq.request_id = identity::generate_request_id();
      const Refusal r = Refusal::from(*refusal);
      co_await reject(*rt, r);
      break;
    }
    worker.state().active_requests.fetch_add(1);
    const bool keep_alive = co_await handle(rt);
    worker.state().active_requests.fetch_sub(1);
    parser.reset();
    if (!keep_alive || worker.draining()) break;
  }
  beast::error_code ec;
  client.shutdown(tcp::socket::shutdown_send, ec);
  client.close(ec);
  worker.sessions().erase(self.get());
  worker.state().active_sessions.fetch_sub(1);
}

asio::awaitable<bool> HttpSession::Impl::await_first_byte(const config::ServerConfig& sc) {
  if (buffer.size() > 0) co_return true;  // pipelined
  if (worker.draining()) co_return false;
  idle = true;
  arm(std::chrono::seconds(sc.idle_timeout_s));
  auto [ec, n] = co_await client.async_read_some(buffer.prepare(4096), nothrow);
  idle = false;
  if (ec || n == 0) co_return false;
  buffer.commit(n);
  co_return true;
}

asio::awaitable<bool> HttpSession::Impl::read_head(const config::ServerConfig& sc,
                                                   std::optional<GatewayError>& refusal) {
  if (!co_await await_first_byte(sc)) co_return false;
  rq.start = Clock::now();
  // The whole head must arrive within header_timeout_s of its first byte.
  arm(std::chrono::seconds(sc.header_timeout_s));
  std::size_t skip = 0, head_len = 0;
  for (;;) {
    auto data = buffer.data();
    std::string_view view(static_cast<const char*>(data.data()), data.size());
    head_len = find_head_end(view, skip);
    if (head_len != 0) break;
    if (view.size() - skip > sc.max_header_bytes) {
      refusal = GatewayError::HeaderTooLarge;
      co_return false;
    }
    const std::size_t want = std::max<std::size_t>(4096, buffer.size());
    auto [ec, n] = co_await client.async_read_some(buffer.prepare(want), nothrow);
    if (timed_out) refusal = GatewayError::HeaderTimeout;
    if (timed_out || ec || n == 0) co_return false;
    buffer.commit(n);
  }
  buffer.consume(skip);
  refusal = parse_head(sc, head_len);
  co_return !refusal;
}

std::optional<GatewayError> HttpSession::Impl::parse_head(const config::ServerConfig& sc,
                                                          std::size_t head_len) {
  if (head_len > sc.max_header_bytes) return GatewayError::HeaderTooLarge;
  const std::string_view head(static_cast<const char*>(buffer.data().data()), head_len);
  if (auto check = check_head(head); check != HeadCheck::Ok) return to_error(check);
  parser.emplace();
  parser->eager(false);
  parser->header_limit(static_cast<std::uint32_t>(head_len + 1));
  if (sc.max_body_bytes > 0) {
    parser->body_limit(sc.max_body_bytes);
  } else {
    parser->body_limit(boost::none);
  }
  beast::error_code ec;
  const std::size_t used = parser->put(asio::buffer(head.data(), head_len), ec);
  buffer.consume(used);
  if (ec == http::error::body_limit) return GatewayError::BodyTooLarge;
  if (ec || !parser->is_header_done()) return GatewayError::MalformedHead;
  rq.bytes_in = head_len;
  const auto& req = parser->get();
  return check_framing(req, req.version());
}

void HttpSession::Impl::begin_request(const runtime::Runtime& rt, Request& req) {
  rq.method = req.method_string();
  rq.version = req.version();
  rq.keep_alive = parser->keep_alive();
  rq.is_head = req.method() == http::verb::head;
  // X-Request-Id: keep a well-formed client value, else make one.
  rq.request_id_header = rt.config->identity.headers.request_id;
  auto it = req.find(rq.request_id_header);
  if (it != req.end() && identity::is_acceptable_request_id(it->value())) {
    rq.request_id.assign(it->value());
  } else {
    rq.request_id = identity::generate_request_id();
  }
}

asio::awaitable<bool> HttpSession::Impl::handle(
    const std::shared_ptr<const runtime::Runtime>& rtp) {
  const runtime::Runtime& rt = *rtp;
  auto& req = parser->get();
  begin_request(rt, req);

  std::optional<GatewayError> refused;
  switch (proxy::normalise_target(req.target(), rq.target)) {
    case proxy::TargetError::None:
      break;
    case proxy::TargetError::EncodedSeparator:
      refused = GatewayError::EncodedSeparator;
      break;
    case proxy::TargetError::Malformed:
      refused = GatewayError::MalformedTarget;
      break;
  }
  if (refused) {
    rq.target = {};
    const Refusal r = Refusal::from(*refused);
    co_return co_await reject(rt, r);
  }
  const int idx = rt.router.match(rq.method, req[http::field::host], rq.target.path);
  if (idx < 0) {
    const Refusal r = Refusal::from(GatewayError::NoRoute);
    co_return co_await reject(rt, r);
  }
  const runtime::RouteRuntime& route = rt.routes[static_cast<std::size_t>(idx)];
  rq.route_name = route.config->name;
  rq.upstream_name = route.upstream->name;

  // Nothing the client sent may speak for the gateway's identity headers.
  rt.sanitizer.sanitize(req);
  if (!route.chain.empty()) {
    if (auto refusal = co_await authenticate(route, req)) co_return co_await reject(rt, *refusal);
  }
  if (!co_await send_continue(req)) co_return false;
  if (!prepare_upstream_request(rt, route, req)) {
    // The mechanisms refuse such identities; never forward a header that could be split.
    const Refusal r = Refusal::from(GatewayError::UnsafeIdentity);
    co_return co_await reject(rt, r);
  }
  co_return co_await forward(rt, route, req);
}

asio::awaitable<std::optional<Refusal>> HttpSession::Impl::authenticate(
    const runtime::RouteRuntime& route, Request& req) {
  const auth::AuthRequest areq{req,       rq.method,     req.target(),  rq.target.path,
                               client_ip, rq.request_id, *route.config, &memo};
  disarm();
  auth_wait.reset();
  route.chain.run(areq, auth_wait.callback());
  if (!auth_wait.ready_now()) {
    const asio::any_io_executor ex = client.get_executor();
    co_await auth_wait.async_wait(ex, asio::use_awaitable);
  }
  auth::AuthResult& result = auth_wait.result();
  if (result.status == auth::Status::Ok) {
    rq.who = std::move(result.identity);
    auto decision = route.policy.check(rq.who);
    if (decision.status == auth::Status::Ok) co_return std::nullopt;
    result.status = decision.status;
    result.scope = std::move(decision.scope);
    result.description.clear();
  }
  co_return Refusal::from_auth(result.status, std::move(result.description), result.challenge,
                               result.scope, route.www_authenticate_missing);
}

// The client asked before sending its body: it has passed every check, so let it send.
asio::awaitable<bool> HttpSession::Impl::send_continue(Request& req) {
  auto expect = req.find(http::field::expect);
  if (expect == req.end()) co_return true;
  if (beast::iequals(expect->value(), "100-continue") && !parser->is_done() && rq.version == 11) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    arm(body_timeout);
    auto [ec, n] = co_await asio::async_write(client, asio::buffer(kContinue), nothrow);
    if (ec) co_return false;
  }
  req.erase(http::field::expect);
  co_return true;
}

// Builds the upstream request in place. False when the identity cannot be forwarded.
bool HttpSession::Impl::prepare_upstream_request(const runtime::Runtime& rt,
                                                 const runtime::RouteRuntime& route, Request& req) {
  upstream_lines.clear();
  std::string original_host;
  const proxy::UpstreamHead head{client_ip, "http", route.upstream->host_header, parser->chunked()};
  proxy::rewrite_request_head(req, head, original_host, upstream_lines);
  std::string upstream_target = route.upstream->base_path;
  std::string_view p = rq.target.path;
  const auto& strip = route.config->strip_prefix;
  if (strip && proxy::Router::prefix_matches(*strip, p)) p.remove_prefix(strip->size());
  if (p.empty() || p.front() != '/') upstream_target.push_back('/');
  upstream_target += p;
  if (rq.target.has_query) {
    upstream_target.push_back('?');
    upstream_target += rq.target.query;
  }
  route.chain.scrub(req, upstream_target);
  if (!identity::forward_identity(req, upstream_lines, rq.who, rt.config->identity.headers,
                                  rq.request_id, {route.config->forward_authorization})) {
    return false;
  }
  req.target(upstream_target);
  req.version(11);
  return true;
}

asio::awaitable<bool> HttpSession::Impl::forward(const runtime::Runtime& rt,
                                                 const runtime::RouteRuntime& route, Request& req) {
  const BodyBuffer body(worker);
  std::unique_ptr<proxy::UpstreamConnection> conn;
  std::optional<ResponseParser> rp;
  const auto failure = co_await exchange(*route.upstream, req, body.data.get(), conn, rp);
  if (failure) {
    upstream_in_use = nullptr;
    const Refusal r = Refusal::from(*failure);
    co_await reject(rt, r);
    co_return false;
  }
  const bool keep = co_await relay_response(*route.upstream, conn, *rp, body.data.get());
  log_request(rt);
  co_return keep;
}

// A pooled connection that the upstream had closed meanwhile fails before any answer byte:
// the request goes once more on a fresh connection, when none of its body was consumed.
asio::awaitable<std::optional<GatewayError>> HttpSession::Impl::exchange(
    const config::UpstreamConfig& up, Request& req, char* body,
    std::unique_ptr<proxy::UpstreamConnection>& conn, std::optional<ResponseParser>& rp) {
  const bool has_body = !parser->is_done();
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    auto failure = co_await connect(up, reused, conn);
    if (failure) co_return failure;
    failure = co_await send_request(req, *conn, body, attempt == 0);
    if (!failure) failure = co_await read_response_head(up, *conn, rp);
    if (!failure) co_return std::nullopt;
    const bool stale = *failure == GatewayError::UpstreamWriteFailed ||
                       (*failure == GatewayError::UpstreamReadFailed && conn->buffer.size() == 0);
    if (attempt > 0 || !reused || has_body || !stale) co_return failure;
    count(Counter::UpstreamError, info(*failure).reason);
  }
}

asio::awaitable<std::optional<GatewayError>> HttpSession::Impl::connect(
    const config::UpstreamConfig& up, bool& reused,
    std::unique_ptr<proxy::UpstreamConnection>& conn) {
  proxy::ConnectError cerr;
  arm(seconds(up.connect_timeout_s));
  conn = co_await worker.pool().acquire(up, !parser->is_done(), reused, cerr, upstream_in_use,
                                        timed_out);
  upstream_in_use = conn.get();
  if (conn) co_return std::nullopt;
  co_return cerr == proxy::ConnectError::Timeout ? GatewayError::UpstreamConnectTimeout
                                                 : GatewayError::UpstreamConnectFailed;
}

asio::awaitable<std::optional<GatewayError>> HttpSession::Impl::send_request(
    Request& req, proxy::UpstreamConnection& conn, char* body, bool first_attempt) {
  out.begin(req, parser->chunked(), upstream_lines);
  if (first_attempt) {
    // Let the other sessions that are ready in this turn of the event loop run first, so
    // their upstream writes leave together: the upstream is woken once for the batch instead
    // of once per request (~13% req/s when each request is expensive, neutral otherwise).
    const asio::any_io_executor ex = client.get_executor();
    co_await asio::post(ex, asio::use_awaitable);
  }
  std::uint64_t sent = 0;
  const PumpResult r =
      co_await pump(*parser, client, buffer, conn.stream, body, false, rq.bytes_in, sent);
  switch (r.end) {
    case PumpEnd::Done:
      co_return std::nullopt;
    case PumpEnd::WriteFailed:
      co_return GatewayError::UpstreamWriteFailed;
    case PumpEnd::ReadFailed:
      break;
  }
  if (r.ec == http::error::body_limit) co_return GatewayError::BodyTooLarge;
  co_return timed_out ? GatewayError::BodyTimeout : GatewayError::BadBody;
}

// Interim 1xx answers other than 101 are dropped.
asio::awaitable<std::optional<GatewayError>> HttpSession::Impl::read_response_head(
    const config::UpstreamConfig& up, proxy::UpstreamConnection& conn,
    std::optional<ResponseParser>& rp) {
  arm(seconds(up.timeout_s));
  for (;;) {
    rp.emplace(rq.request_id_header);
    rp->body_limit(boost::none);
    rp->header_limit(64 * 1024);
    if (rq.is_head) rp->skip(true);
    auto [ec, n] = co_await http::async_read_header(conn.stream, conn.buffer, *rp, nothrow);
    if (ec) co_return timed_out ? GatewayError::UpstreamTimeout : GatewayError::UpstreamReadFailed;
    const unsigned code = rp->status();
    if (code == 101) co_return GatewayError::UpstreamUpgrade;
    if (code >= 200 || code < 100) co_return std::nullopt;
  }
}

asio::awaitable<bool> HttpSession::Impl::relay_response(
    const config::UpstreamConfig& up, std::unique_ptr<proxy::UpstreamConnection>& conn,
    ResponseParser& rp, char* body) {
  const bool up_chunked = rp.chunked();
  const bool delimited_by_close = !up_chunked && !rp.has_content_length();
  bool keep = rq.keep_alive && !worker.draining();
  if (up_chunked && rq.version != 11) keep = false;  // HTTP/1.0: the body ends with the connection
  if (!up_chunked && !rp.is_done() && delimited_by_close) keep = false;
  // A message with no body (HEAD, 204, 304, Content-Length: 0) is its head alone.
  const bool out_chunked = up_chunked && rq.version == 11 && !rp.is_done();
  const bool up_keep_alive = rp.keep_alive();
  client_lines.clear();
  proxy::append_response_lines(rq.request_id_header, rq.request_id, rq.version, keep,
                               up_chunked && rq.version == 11, client_lines);
  rq.status = rp.status();
  out.begin_response(rq.version, rp.status(), rp.reason(), rp.lines(), client_lines, out_chunked);
  std::uint64_t received = 0;
  const PumpResult r = co_await pump(rp, conn->stream, conn->buffer, client, body,
                                     delimited_by_close, received, rq.bytes_out);
  disarm();
  upstream_in_use = nullptr;
  if (r.end == PumpEnd::ReadFailed) {
    // The head is already sent: the only honest signal left is to cut the connection.
    rq.reason = info(GatewayError::UpstreamBodyFailed).reason;
    count(Counter::UpstreamError, rq.reason);
    co_return false;
  }
  if (r.end == PumpEnd::WriteFailed) {
    rq.reason = info(GatewayError::ClientGone).reason;
    co_return false;
  }
  if (up_keep_alive && rp.is_done() && conn->buffer.size() == 0) {
    worker.pool().release(up, std::move(conn));
  }
  co_return keep;
}

template <class Parser>
asio::awaitable<PumpResult> HttpSession::Impl::pump(Parser& p, proxy::Socket& src,
                                                    beast::flat_buffer& srcbuf, proxy::Socket& dst,
                                                    char* body, bool eof_ends_body,
                                                    std::uint64_t& read_bytes,
                                                    std::uint64_t& written_bytes) {
  for (;;) {
    std::size_t piece = 0;
    if (!p.is_done()) {
      auto& b = body_of(p);
      b.data = body;
      b.size = kBody;
      beast::error_code ec;
      if (put_buffered(p, srcbuf, kBody, ec) == 0 && !ec && !p.is_done()) {
        arm(body_timeout);
        auto [rec, n] = co_await http::async_read(src, srcbuf, p, nothrow);
        ec = rec == http::error::need_buffer ? beast::error_code{} : rec;
      }
      if (ec == http::error::end_of_stream && eof_ends_body) ec = {};
      if (ec) co_return PumpResult{PumpEnd::ReadFailed, ec};
      piece = kBody - b.size;
      read_bytes += piece;
    }
    const bool last = p.is_done();
    arm(body_timeout);
    auto [ec, n] = co_await out.write(dst, body, piece, last);
    written_bytes += n;
    if (ec) co_return PumpResult{PumpEnd::WriteFailed, ec};
    if (last) co_return PumpResult{PumpEnd::Done, {}};
  }
}

asio::awaitable<bool> HttpSession::Impl::reject(const runtime::Runtime& rt, const Refusal& r) {
  rq.status = r.status;
  rq.reason = r.reason;
  count(r.counter, r.reason);
  // Unread body bytes make the connection unusable after an early answer.
  const bool keep =
      !r.close && parser && parser->is_done() && parser->keep_alive() && !worker.draining();
  json::object o;
  o["error"] = r.error;
  o["error_description"] = r.description;
  o["request_id"] = rq.request_id;
  http::response<http::string_body> res{static_cast<http::status>(r.status), rq.version};
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.set(rt.config->identity.headers.request_id, rq.request_id);
  if (!r.challenge.empty()) res.set(http::field::www_authenticate, r.challenge);
  res.body() = json::serialize(o);
  res.prepare_payload();
  res.keep_alive(keep);
  arm(body_timeout);
  auto [ec, n] = co_await http::async_write(client, res, nothrow);
  disarm();
  rq.bytes_out += n;
  log_request(rt);
  co_return keep && !ec;
}

void HttpSession::Impl::count(Counter counter, std::string_view reason) {
  auto& metrics = observe::Metrics::global();
  switch (counter) {
    case Counter::None:
      break;
    case Counter::BadRequest:
      metrics.add(observe::series::kBadRequests, {{"reason", reason}});
      break;
    case Counter::UpstreamError:
      metrics.add(observe::series::kUpstreamErrors,
                  {{"upstream", rq.upstream_name}, {"kind", reason}});
      break;
    case Counter::AuthFailure:
      metrics.add(observe::series::kAuthFailures, {{"route", rq.route_name}, {"reason", reason}});
      break;
  }
}

void HttpSession::Impl::log_request(const runtime::Runtime& rt) {
  const double secs = std::chrono::duration<double>(Clock::now() - rq.start).count();
  observe::Metrics::global().record_request(rq.route_name, rq.status, secs);
  if (!rt.access_log->enabled()) return;
  observe::AccessEntry e;
  e.request_id = rq.request_id;
  e.method = rq.method;
  e.path = rq.target.path;
  e.query = rq.target.query;
  e.status = rq.status;
  e.route = rq.route_name;
  e.upstream = rq.upstream_name;
  e.duration_ms = secs * 1000;
  e.client_ip = client_ip;
  e.client_id = rq.who.client_id;
  e.user_id = rq.who.subject;
  e.auth_method = rq.who.auth_method;
  e.credential_id = rq.who.credential_id;
  e.reason = rq.reason;
  e.bytes_in = rq.bytes_in;
  e.bytes_out = rq.bytes_out;
  rt.access_log->write(e);
}

}  // namespace portcullis::server
