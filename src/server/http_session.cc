// One client connection: the request's one-way flow (read → check → route → sanitize →
// authenticate → policy → forward → relay) as a coroutine per connection, in named steps.
// Every refusal leaves through reject() (gateway_error.h), which answers and logs.
#include "server/http_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cerrno>
#include <chrono>
#include <optional>
#include <tuple>

#include "common/nothrow.h"
#include "identity/forwarder.h"
#include "identity/request_id.h"
#include "observe/metrics.h"
#include "proxy/client_address.h"
#include "proxy/headers.h"
#include "server/enforcement.h"
#include "server/framing.h"
#include "server/proxy_protocol.h"
#include "server/session_impl.h"
#include "spdlog/spdlog.h"

namespace portcullis::server {

namespace json = boost::json;
using namespace session;  // NOLINT: the session's own private vocabulary

HttpSession::HttpSession(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void HttpSession::start(proxy::Socket socket, Worker& worker) {
  auto session = std::shared_ptr<HttpSession>(
      new HttpSession(std::make_unique<Impl>(std::move(socket), worker)));
  worker.sessions().insert(session.get());
  worker.state().active_sessions.fetch_add(1);
  spawn(std::move(session), false);
}

void HttpSession::close_idle() {
  if (close_parked()) return;
  if (!impl_->idle) return;
  beast::error_code ec;
  impl_->client.socket().shutdown(tcp::socket::shutdown_both, ec);
  impl_->client.socket().close(ec);
}

void HttpSession::cut() {
  if (close_parked()) return;
  beast::error_code ec;
  Impl& d = *impl_;
  d.cut_at_drain = true;
  d.client.socket().shutdown(tcp::socket::shutdown_both, ec);
  d.client.socket().close(ec);
  if (d.upstream_in_use) d.upstream_in_use->stream.close(ec);
}

void HttpSession::check_deadline(Clock::time_point now) {
  if (parked_) {
    check_parked_deadline(now);
    return;
  }
  Impl& d = *impl_;
  d.park_if_waiting();
  beast::error_code ec;
  if (d.awaiting_upstream_since != Clock::time_point::max() && now >= d.next_hangup_check) {
    d.next_hangup_check = now + Impl::kHangupCheckEvery;
    if (d.client_hung_up()) {
      d.awaiting_upstream_since = Clock::time_point::max();
      d.client_gone = true;
      d.client.socket().cancel(ec);
      if (d.upstream_in_use) d.upstream_in_use->stream.cancel(ec);
      return;
    }
  }
  if (now < d.deadline) return;
  d.deadline = Clock::time_point::max();
  d.timed_out = true;
  d.client.socket().cancel(ec);
  if (d.upstream_in_use) d.upstream_in_use->stream.cancel(ec);
}

// A peek that does not wait: the peer's FIN (0) or a reset says the client is gone; bytes (a
// pipelined request, a TLS record) or nothing yet say nothing. A client that half-closes its
// side and still waits for the answer is taken for gone too, as nginx takes it.
bool HttpSession::Impl::client_hung_up() {
  char byte;
  const ssize_t n = ::recv(client.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return true;
  return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

asio::awaitable<bool> HttpSession::Impl::run(std::shared_ptr<HttpSession> self,
                                             bool resumed_after_park) {
  bool open = true;
  if (!resumed_after_park) {
    // The runtime the connection starts with decides whether it begins with a PROXY header
    // and whether it speaks TLS. Held, not referenced (a reload may swap the worker's
    // runtime), and only for these steps: a long-lived connection must not keep an old
    // runtime alive.
    const std::shared_ptr<const runtime::Runtime> rt = worker.runtime();
    if (rt->config->server.proxy_protocol) open = co_await read_proxy_header(rt->config->server);
    if (open) open = co_await handshake(*rt);
  }
  while (open) {
    // Held, not referenced: a reload swaps the worker's runtime while this request waits.
    std::shared_ptr<const runtime::Runtime> rt = worker.runtime();
    rq = RequestState{};
    body_timeout = std::chrono::seconds(rt->config->server.body_timeout_s);
    std::optional<GatewayError> refusal;
    if (!co_await read_head(rt->config->server, refusal)) {
      if (end_to_park) co_return true;  // HttpSession::park: the connection waits, parked
      if (!refusal) break;
      // The request could not even be read: answer, log, and close.
      rq.request_id = identity::generate_request_id();
      rq.client_ip = peer_ip;
      const Refusal r = Refusal::from(*refusal);
      co_await reject(*rt, r);
      break;
    }
    // The head was read under the server settings in force when the wait began (header and
    // body size limits, timeouts: they stay for this request); routing, authentication and
    // what is forwarded follow the config in force now (a reload while the connection
    // waited is seen by its next request).
    if (rt != worker.runtime()) rt = worker.runtime();
    worker.state().active_requests.fetch_add(1);
    in_request = true;
    const bool keep_alive = co_await handle(rt);
    in_request = false;
    worker.state().active_requests.fetch_sub(1);
    parser.reset();
    if (!keep_alive || worker.draining()) break;
  }
  co_await close();
  worker.sessions().erase(self.get());
  worker.state().active_sessions.fetch_sub(1);
  co_return false;
}

// server.proxy_protocol: the connection starts with a PROXY protocol header naming the
// client, or it is closed without an answer. Bytes after the header stay in `buffer`.
asio::awaitable<bool> HttpSession::Impl::read_proxy_header(const config::ServerConfig& sc) {
  arm(std::chrono::seconds(sc.header_timeout_s));
  for (;;) {
    const std::string_view view(static_cast<const char*>(buffer.data().data()), buffer.size());
    const ProxyHeader h = parse_proxy_header(view);
    if (h.status == ProxyHeaderStatus::Done) {
      buffer.consume(h.length);
      if (!h.source.empty()) peer_ip = h.source;
      co_return true;
    }
    if (h.status != ProxyHeaderStatus::Incomplete) {
      refuse_proxy_header(reason(h.status));
      co_return false;
    }
    // Incomplete means fewer than the maximum so far; a connection that has sent nothing
    // is closed quietly by draining, like an idle one.
    idle = buffer.size() == 0;
    const std::size_t room = kMaxProxyHeaderBytes - buffer.size();
    auto [ec, n] = co_await client.async_read_some(buffer.prepare(room), nothrow);
    idle = false;
    if (timed_out) {
      refuse_proxy_header("timeout");
    } else if ((ec || n == 0) && buffer.size() > 0) {
      refuse_proxy_header("truncated");
    }
    if (timed_out || ec || n == 0) co_return false;
    buffer.commit(n);
  }
}

// Counted and logged; the connection closes without an answer (it may not even be HTTP).
void HttpSession::Impl::refuse_proxy_header(std::string_view reason) {
  observe::Metrics::global().add(observe::series::kProxyProtocolErrors, {{"reason", reason}});
  spdlog::warn("connection from {} closed: no valid PROXY protocol header ({})", peer_ip, reason);
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
    // Blank lines before the request line (RFC 9112 §2.2) are dropped as they arrive: they
    // never pile up, and the header timeout bounds a client that sends nothing else.
    buffer.consume(skip);
    view.remove_prefix(skip);
    if (head_len != 0) break;
    if (view.size() > sc.max_header_bytes) {
      refusal = GatewayError::HeaderTooLarge;
      co_return false;
    }
    const std::size_t want = std::max<std::size_t>(4096, buffer.size());
    auto [ec, n] = co_await client.async_read_some(buffer.prepare(want), nothrow);
    if (timed_out) refusal = GatewayError::HeaderTimeout;
    if (timed_out || ec || n == 0) co_return false;
    buffer.commit(n);
  }
  refusal = parse_head(sc, head_len);
  co_return !refusal;
}

std::optional<GatewayError> HttpSession::Impl::parse_head(const config::ServerConfig& sc,
                                                          std::size_t head_len) {
  if (head_len > sc.max_header_bytes) return GatewayError::HeaderTooLarge;
  const std::string_view head(static_cast<const char*>(buffer.data().data()), head_len);
  if (auto check = check_head_lines(head); check != HeadCheck::Ok) return to_error(check);
  parser.emplace();
  parser->eager(false);
  parser->header_limit(static_cast<std::uint32_t>(head_len + 1));
  if (sc.max_body_bytes > 0) {
    parser->body_limit(sc.max_body_bytes);
  } else {
    parser->body_limit(boost::none);
  }
  beast::error_code ec;
  const std::size_t used = put_checked(*parser, asio::buffer(head.data(), head_len), ec);
  buffer.consume(used);
  if (ec == http::error::body_limit) return GatewayError::BodyTooLarge;
  if (ec == http::error::header_limit) return GatewayError::HeaderTooLarge;
  if (ec || !parser->is_header_done()) {
    // Refused by Beast: named by the byte it tripped over when that is a control character
    // or a bare CR.
    if (auto check = check_head(head); check != HeadCheck::Ok) return to_error(check);
    return GatewayError::MalformedHead;
  }
  rq.bytes_in = head_len;
  const auto& req = parser->get();
  // Methods are case-sensitive (RFC 9110 §9.1), and a route's `methods` match them so; but
  // frameworks behind the gateway upper-case them, so "post" would pass a route limited to
  // POST and be run as one by the upstream. nginx refuses such methods too.
  const std::string_view method = req.method_string();
  if (std::any_of(method.begin(), method.end(), [](char c) { return c >= 'a' && c <= 'z'; })) {
    return GatewayError::MethodCase;
  }
  if (req.method() == http::verb::connect) return GatewayError::ConnectMethod;
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
  resolve_client(rt.config->server, req);
}

// The address the request is judged and logged by (proxy/client_address.h).
void HttpSession::Impl::resolve_client(const config::ServerConfig& sc, const Request& req) {
  if (sc.trusted_proxies.empty()) {
    rq.client_ip = peer_ip;
    return;
  }
  auto client =
      proxy::resolve_client_address(peer_ip, proxy::joined_forwarded_for(req), sc.trusted_proxies);
  rq.client_ip = std::move(client.ip);
  rq.peer_trusted = client.peer_trusted;
}

namespace {

// Where the main listener serves the signed context's JWKS; empty: it does not.
std::string_view jwks_route(const runtime::Runtime& rt) {
  const auto& sc = rt.config->identity.signed_context;
  if (!rt.signed_context || !sc || !sc->jwks_route) return {};
  return *sc->jwks_route;
}

}  // namespace

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
    case proxy::TargetError::DotSegmentParameter:
      refused = GatewayError::DotSegmentParameter;
      break;
  }
  if (refused) {
    rq.target = {};
    const Refusal r = Refusal::from(*refused);
    co_return co_await reject(rt, r);
  }
  if (const auto jwks = jwks_route(rt);
      !jwks.empty() && rq.target.path == jwks && req.method() == http::verb::get) {
    co_return co_await serve_jwks(rt);
  }
  const int idx = rt.router.match(rq.method, req[http::field::host], rq.target.routing_path());
  if (idx < 0) {
    const Refusal r = Refusal::from(GatewayError::NoRoute);
    co_return co_await reject(rt, r);
  }
  const runtime::RouteRuntime& route = rt.routes[static_cast<std::size_t>(idx)];
  rq.route_name = route.config->name;
  rq.upstream_name = route.upstream->name;

  // Nothing the client sent may speak for the gateway's identity headers.
  rt.sanitizer.sanitize(req);
  if (rt.limiter && !route.limits.empty()) {
    std::optional<Refusal> refusal;
    if (!admit_limited_now(rt, route, refusal)) refusal = co_await admit_limited(rt, route, req);
    if (refusal) co_return co_await reject(rt, *refusal);
  } else if (!route.chain.empty()) {
    if (!ask_auth(route, req)) co_await await_auth();
    auto refusal = auth_verdict(route);
    if (refusal && !shadow_pass(route, *refusal)) co_return co_await reject(rt, *refusal);
  }
  if (!co_await send_continue(req)) co_return false;
  if (!prepare_upstream_request(rt, route, req)) {
    // The mechanisms refuse such identities; never forward a header that could be split.
    const Refusal r = Refusal::from(GatewayError::UnsafeIdentity);
    co_return co_await reject(rt, r);
  }
  co_return co_await forward(rt, route, req);
}

bool HttpSession::Impl::ask_auth(const runtime::RouteRuntime& route, Request& req) {
  if (!memo) memo = std::make_unique<auth::CredentialMemo>();
  auth_request.emplace(auth::AuthRequest{req, rq.method, req.target(), rq.target.path, rq.client_ip,
                                         rq.request_id, *route.config, memo.get(),
                                         client_cert.get()});
  disarm();
  auth_wait.reset();
  route.chain.run(*auth_request, auth_wait.callback());
  return auth_wait.ready_now();
}

asio::awaitable<void> HttpSession::Impl::await_auth() {
  const asio::any_io_executor ex = client.get_executor();
  co_await auth_wait.async_wait(ex, asio::use_awaitable);
}

std::optional<Refusal> HttpSession::Impl::auth_verdict(const runtime::RouteRuntime& route) {
  auth_request.reset();  // answered: no mechanism reads it any more
  auth::AuthResult& result = auth_wait.result();
  // On a refusal too: the access log names a credential that was identified (never forwarded).
  if (result.memo_identity != nullptr) {
    rq.memo_who = result.memo_identity;
  } else {
    rq.own_who = std::move(result.identity);
  }
  if (result.status == auth::Status::Ok) {
    rq.credential_accepted = true;
    auto decision = route.policy.check(rq.who());
    if (decision.status == auth::Status::Ok) return std::nullopt;
    result.status = decision.status;
    result.scope = std::move(decision.scope);
    result.description.clear();
  }
  return Refusal::from_auth(result.status, std::move(result.description), result.challenge,
                            result.scope, route.www_authenticate_missing);
}

// The one place a verdict on the caller (authentication, policy; a rate limit's 429 too,
// once there is one) is either answered or, on a shadow route, forwarded and recorded.
bool HttpSession::Impl::shadow_pass(const runtime::RouteRuntime& route, const Refusal& r) {
  if (!would_refuse(route.config->enforcement, r)) return false;
  // The first verdict is the one logged; each is counted.
  if (rq.would_status == 0) {
    rq.would_status = r.status;
    rq.would_reason = r.reason;
  }
  observe::Metrics::global().add(observe::series::kShadowRefusals,
                                 {{"route", rq.route_name}, {"reason", r.reason}});
  return true;
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
  // A shadow route forwards a refused credential's request with no identity, and without its
  // Authorization whatever forward_authorization says.
  static const identity::Identity kNoIdentity;
  const bool proven = forwards_identity(!route.chain.empty(), rq.credential_accepted);
  const identity::Identity& who = proven ? rq.who() : kNoIdentity;
  // The connection's memo names the same identity request after request: its header lines
  // are rendered once per identity and runtime.
  const bool memo_named = proven && memo && rq.memo_who == &memo->identity();
  const identity::ForwardOptions options{
      .forward_authorization = route.config->forward_authorization && proven,
      .signer = rt.signed_context.get(),
      .audience = route.upstream->name,
      .fields_dropped = true,
      .rendered = memo_named ? &memo->rendered : nullptr,
      .runtime_id = rt.id};
  const proxy::UpstreamHead head{.peer_ip = peer_ip,
                                 .peer_trusted = rq.peer_trusted,
                                 .proto = client.tls() ? "https" : "http",
                                 .upstream_host = route.upstream->host_header,
                                 .chunked = parser->chunked(),
                                 .content_length = parser->content_length(),
                                 .drop_authorization = !options.forward_authorization,
                                 .drop_name = rt.config->identity.headers.request_id};
  proxy::rewrite_request_head(req, head, rq.host, upstream_lines);
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
  if (!identity::forward_identity(req, upstream_lines, who, rt.config->identity.headers,
                                  rq.request_id, options)) {
    return false;
  }
  req.target(upstream_target);
  req.version(11);
  return true;
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
  if (!r.challenge.empty()) res.set(http::field::www_authenticate, r.challenge);
  set_rate_limit_fields(res, r);
  res.body() = json::serialize(o);
  co_return co_await answer(rt, res, keep);
}

asio::awaitable<bool> HttpSession::Impl::serve_jwks(const runtime::Runtime& rt) {
  rq.status = 200;
  const bool keep = parser->is_done() && parser->keep_alive() && !worker.draining();
  http::response<http::string_body> res{http::status::ok, rq.version};
  res.set(http::field::content_type, "application/json");
  // Verifiers fetch again on an unknown kid; a minute bounds how stale a copy can be.
  res.set(http::field::cache_control, "max-age=60");
  res.body() = rt.signed_context->jwks();
  co_return co_await answer(rt, res, keep);
}

// The gateway's own answer (a refusal, the JWKS): the request id, the framing, one write
// within the body timeout, then the access-log line. Whether the connection stays open.
asio::awaitable<bool> HttpSession::Impl::answer(const runtime::Runtime& rt,
                                                http::response<http::string_body>& res, bool keep) {
  res.set(rt.config->identity.headers.request_id, rq.request_id);
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
  if (cut_at_drain) {
    // Whatever broke after the cut broke because of it.
    const auto& cut = info(GatewayError::DrainTimeout);
    rq.reason = cut.reason;
    if (rq.bytes_out == 0) rq.status = cut.status;
  }
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
  // Named only when the request was forwarded (upstream_ms is set from the first attempt
  // on), like upstream_status; a request refused before (401, 413...) has none.
  if (rq.upstream_ms >= 0) e.upstream = rq.upstream_name;
  e.duration_ms = secs * 1000;
  e.host = rq.host;
  if (parser && parser->is_header_done()) {
    const auto& req = parser->get();
    // Not forwarded: the Host field is still there.
    if (const std::string_view h = req[http::field::host]; rq.host.empty() && valid_host(h)) {
      e.host = h;
    }
    e.user_agent = req[http::field::user_agent];
  }
  e.upstream_status = rq.upstream_status;
  e.upstream_ms = rq.upstream_ms;
  e.client_ip = rq.client_ip;
  e.peer_ip = peer_ip;
  const identity::Identity& who = rq.who();
  e.client_id = who.client_id;
  e.user_id = who.subject;
  e.auth_method = who.auth_method;
  e.credential_id = who.credential_id;
  e.reason = rq.reason;
  e.rate_limit = rq.rate_limit;
  e.would_status = rq.would_status;
  e.would_reason = rq.would_reason;
  e.bytes_in = rq.bytes_in;
  e.bytes_out = rq.bytes_out;
  rt.access_log->write(e);
}

}  // namespace portcullis::server
