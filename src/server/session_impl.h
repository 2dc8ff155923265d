// The session's private parts, shared by http_session.cc (the client side of the flow:
// reading, checking, routing, authenticating, refusing, logging) and upstream_exchange.cc
// (the upstream side: connecting, sending, relaying). Included by those two files only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "auth/client_certificate.h"
#include "auth/credential_memo.h"
#include "identity/identity.h"
#include "proxy/path.h"
#include "proxy/upstream_pool.h"
#include "ratelimit/pending_attempts.h"
#include "ratelimit/route_limits.h"
#include "runtime/runtime.h"
#include "server/auth_wait.h"
#include "server/gateway_error.h"
#include "server/http_session.h"
#include "server/limit_wait.h"
#include "server/message_io.h"
#include "server/upstream_response.h"
#include "server/worker.h"

namespace portcullis::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace session {

constexpr std::size_t kBody = Worker::kBodyBufferSize;
// What a message body may hold unparsed: a chunk's size line with its extensions, or the
// trailer section (and a field's value must stay under Beast's 64 KiB anyway).
constexpr std::size_t kMaxPending = 64 * 1024;

inline std::chrono::milliseconds seconds(double s) {
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
  // Whom the credential names: its own copy, or the connection's memo's (a memo hit; the memo
  // changes only when the connection authenticates again).
  identity::Identity own_who;
  const identity::Identity* memo_who = nullptr;
  const identity::Identity& who() const { return memo_who != nullptr ? *memo_who : own_who; }
  // The route's mechanism accepted the credential: only then is `who` forwarded (else it is
  // only logged, as a refused credential's is; server/enforcement.h).
  bool credential_accepted = false;
  // Shadow mode: the first refusal a shadow route forwarded instead of answering
  // (would_status 0: none).
  unsigned would_status = 0;
  std::string_view would_reason;
  // The client: the peer, or from X-Forwarded-For when the peer is a trusted proxy.
  std::string client_ip;
  bool peer_trusted = false;  // the peer's X-Forwarded-* headers are believed
  std::string host;           // the client's Host, taken out of the fields when forwarding
  unsigned status = 0;
  unsigned upstream_status = 0;  // the upstream's answer, 0 when there was none
  double upstream_ms = -1;       // connect to response head (or failure); -1: not forwarded
  std::uint64_t bytes_in = 0, bytes_out = 0;
  // The route's rate limits judged so far, for the answer's RateLimit fields; the name of the
  // one that refused the request (access log).
  ratelimit::AppliedList limits;
  std::string_view rate_limit;
  bool shield_judged = false;  // the failed-auth shield was peeked (limit_before_auth_now)
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

}  // namespace session

// What a parked connection keeps while it waits for its next request (HttpSession::park).
struct HttpSession::Parked {
  Parked(ClientStream c, Worker& w) : client(std::move(c)), worker(w) {}
  ClientStream client;
  Worker& worker;
  std::string peer_ip;
  std::unique_ptr<auth::CredentialMemo> memo;  // null when the memo was empty
  std::unique_ptr<const auth::ClientCertificate> client_cert;
  Clock::time_point deadline;  // the idle deadline
  bool timed_out = false;
};

struct HttpSession::Impl {
  using RequestState = session::RequestState;
  using PumpResult = session::PumpResult;
  using Request = session::Request;
  using RequestParser = session::RequestParser;
  using ResponseParser = session::ResponseParser;
  Impl(proxy::Socket socket, Worker& w) : client(std::move(socket)), worker(w) {
    beast::error_code ec;
    auto ep = client.socket().remote_endpoint(ec);
    if (!ec) peer_ip = ep.address().to_string();
    client.socket().set_option(tcp::no_delay(true), ec);
    client.socket().non_blocking(true, ec);  // for read_now (await_first_byte)
  }
  // A parked connection taken up again: its next request's bytes are there (or it ends).
  Impl(Parked&& p)
      : client(std::move(p.client)),
        worker(p.worker),
        peer_ip(std::move(p.peer_ip)),
        client_cert(std::move(p.client_cert)),
        deadline(p.deadline),
        timed_out(p.timed_out),
        resumed(true) {
    memo = std::move(p.memo);
  }

  // The connection.
  ClientStream client;        // TLS once handshake() has run on a TLS listener
  beast::flat_buffer buffer;  // bytes from the client not yet parsed (pipelining)
  Worker& worker;
  // The TCP peer, or the client a PROXY protocol header names (server.proxy_protocol).
  std::string peer_ip;
  bool idle = false;
  // A plain connection waiting for its next request with a read pending (await_first_byte);
  // the sweeper's next pass parks it (calls the read off, so that its buffers go back).
  bool parkable = false;
  bool park = false;
  // The sweeper's pass: a connection waiting with its read pending is parked (the read is
  // called off; await_first_byte then parks it).
  void park_if_waiting();
  OutgoingMessage out;  // the message being written (request up, then response down)
  AuthWait auth_wait;   // the auth chain's answer for the current request
  // What the mechanisms read about the current request, until they answer (a mechanism
  // answering later, after a key fetch say, still reads it).
  std::optional<auth::AuthRequest> auth_request;
  LimitWait limit_wait;  // the rate limiter's answer when it waits (a shared store)
  // One limit step's checks and answers (reused buffers: a local limit allocates nothing).
  std::vector<ratelimit::Check> limit_checks;
  std::vector<ratelimit::Outcome> limit_outcomes;
  // The last credential a mechanism accepted on this connection: made when a route first
  // authenticates on it, and handed to the parked connection as it is (no byte copied).
  std::unique_ptr<auth::CredentialMemo> memo;
  // The client certificate the TLS handshake proved, read once per connection (a pointer:
  // plain connections pay 8 bytes for it).
  std::unique_ptr<const auth::ClientCertificate> client_cert;
  // Header lines the gateway writes after a message's own fields (reused buffers): Host,
  // X-Forwarded-* and the identity upstream; the request id and framing downstream.
  std::string upstream_lines;
  std::string client_lines;

  // One deadline at a time (the session's operations are sequential); the worker's sweeper
  // cancels the client socket and the upstream in use once it passes.
  Clock::time_point deadline = Clock::time_point::max();
  bool timed_out = false;
  bool cut_at_drain = false;  // closed by the drain deadline (HttpSession::cut)
  bool in_request = false;    // counted in active_requests (HttpSession::end_after_error)
  proxy::UpstreamConnection* upstream_in_use = nullptr;
  // Waiting for the upstream's answer since then (max(): not waiting). The sweeper looks at a
  // session that has waited a sweep or more: if its client hung up meanwhile (client_hung_up),
  // the wait is called off and the request is logged 499 client_gone, unanswered.
  Clock::time_point awaiting_upstream_since = Clock::time_point::max();
  // The first look a sweep after the wait began, then one a second: a worker with thousands
  // of long polls peeks at each once a second, not twenty times.
  Clock::time_point next_hangup_check = Clock::time_point::max();
  static constexpr std::chrono::seconds kHangupCheckEvery{1};
  bool client_gone = false;
  bool client_hung_up();
  std::chrono::seconds body_timeout{30};
  // await_first_byte found nothing to read: run() ends and the connection waits parked in
  // its HttpSession (HttpSession::park), holding only its socket.
  bool end_to_park = false;
  // Taken up again after parking: the idle deadline armed before parking still holds.
  bool resumed = false;
  template <class Duration>
  void arm(Duration d) {
    timed_out = false;
    deadline = worker.now() + std::chrono::duration_cast<Clock::duration>(d);
  }
  void disarm() { deadline = Clock::time_point::max(); }

  // The current request.
  std::optional<RequestParser> parser;
  RequestState rq;

  // The connection's coroutine; true when it ended to park (the connection stays open).
  // `resumed`: taken up again after parking (no PROXY header, no handshake).
  asio::awaitable<bool> run(std::shared_ptr<HttpSession> self, bool resumed_after_park);
  // server.proxy_protocol: false when the connection must close (no valid header).
  asio::awaitable<bool> read_proxy_header(const config::ServerConfig& sc);
  void refuse_proxy_header(std::string_view reason);
  // The connection's first step on a TLS listener (after any step that reads bytes in clear,
  // such as a PROXY header): the TLS handshake, then the client certificate read. False when
  // the handshake failed: the connection closes without an answer.
  asio::awaitable<bool> handshake(const runtime::Runtime& rt);
  // The connection's last step: TLS close_notify (bounded by a short deadline), then close.
  asio::awaitable<void> close();
  // Reading the head: false when the connection ended quietly (or `refusal` is set).
  asio::awaitable<bool> read_head(const config::ServerConfig& sc,
                                  std::optional<GatewayError>& refusal);
  asio::awaitable<bool> await_first_byte(const config::ServerConfig& sc);
  std::optional<GatewayError> parse_head(const config::ServerConfig& sc, std::size_t head_len);
  // One request, once its head is read: returns whether the connection stays open.
  asio::awaitable<bool> handle(const std::shared_ptr<const runtime::Runtime>& rt);
  void begin_request(const runtime::Runtime& rt, Request& req);
  void resolve_client(const config::ServerConfig& sc, const Request& req);
  // Authentication and the route's policy: the refusal to answer, if any. ask_auth runs the
  // chain and says whether its answer came on the spot (most do: an API key, a memoized or
  // cached token); otherwise await_auth waits for it. auth_verdict reads it. handle() and
  // admit_limited call the three themselves, so that a synchronous answer costs no coroutine
  // frame and a wait can be counted by the shield.
  bool ask_auth(const runtime::RouteRuntime& route, Request& req);
  asio::awaitable<void> await_auth();
  std::optional<Refusal> auth_verdict(const runtime::RouteRuntime& route);
  // Where a verdict on the caller becomes an answer: false when the caller must answer `r`
  // through reject(); true when the route is in shadow mode and the request goes on,
  // recorded (access log, metric) with what it would have answered.
  bool shadow_pass(const runtime::RouteRuntime& route, const Refusal& r);
  asio::awaitable<bool> send_continue(Request& req);
  // Rate limits (rate_limit_steps.cc): each returns the 429 when a limit refuses.
  // admit_limited: on a limited route, the limits and authentication in their order.
  // admit_limited_now: the same without suspending, for a route without authentication whose
  // limiter answers on the spot (the in-process store); false: ask admit_limited (it goes on
  // from where this stopped).
  bool admit_limited_now(const runtime::Runtime& rt, const runtime::RouteRuntime& route,
                         std::optional<Refusal>& refusal);
  asio::awaitable<std::optional<Refusal>> admit_limited(const runtime::Runtime& rt,
                                                        const runtime::RouteRuntime& route,
                                                        Request& req);
  bool limit_before_auth_now(const runtime::Runtime& rt, const runtime::RouteRuntime& route,
                             std::optional<Refusal>& refusal);
  asio::awaitable<std::optional<Refusal>> limit_before_auth(const runtime::Runtime& rt,
                                                            const runtime::RouteRuntime& route);
  void record_failed_auth(const runtime::Runtime& rt, const runtime::RouteRuntime& route);
  asio::awaitable<std::optional<Refusal>> limit_identity(const runtime::Runtime& rt,
                                                         const runtime::RouteRuntime& route);
  // limit_checks asked, the answers into limit_outcomes: on the spot when the limiter can,
  // else (ask_limiter) waiting for its callback.
  bool ask_limiter_now(ratelimit::Limiter& limiter, bool peek);
  asio::awaitable<void> ask_limiter(ratelimit::Limiter& limiter, bool peek);
  // The answers in limit_outcomes onto the last entries of rq.limits, judged (judge_limits).
  std::optional<Refusal> take_outcomes();
  // The shield's peek, counting the attempts that still wait for authentication as failures;
  // an admitted attempt is held (shield_hold) until authentication answers.
  std::optional<Refusal> take_shield_outcomes();
  std::optional<ratelimit::PendingAttempts::Hold> shield_hold;
  std::optional<Refusal> judge_limits(std::size_t n);
  void set_rate_limit_fields(http::response<http::string_body>& res, const Refusal& r);
  bool prepare_upstream_request(const runtime::Runtime& rt, const runtime::RouteRuntime& route,
                                Request& req);
  asio::awaitable<bool> forward(const runtime::Runtime& rt, const runtime::RouteRuntime& route,
                                Request& req);
  // The upstream exchange: a connection, the request sent, the response head read. `tls`:
  // the upstream's TLS context when it is https, else null.
  asio::awaitable<std::optional<GatewayError>> exchange(
      const config::UpstreamConfig& up, const tls::ClientContext* tls, Request& req, char* body,
      std::unique_ptr<proxy::UpstreamConnection>& conn, std::optional<ResponseParser>& rp);
  // A new upstream connection (exchange() reuses a pooled one first, with no suspension).
  asio::awaitable<std::optional<GatewayError>> connect(
      const config::UpstreamConfig& up, const tls::ClientContext* tls,
      std::unique_ptr<proxy::UpstreamConnection>& conn);
  asio::awaitable<std::optional<GatewayError>> send_request(Request& req,
                                                            proxy::UpstreamConnection& conn,
                                                            char* body, bool first_attempt);
  // `Stream`: the connection's socket, or its TLS stream.
  template <class Stream>
  asio::awaitable<beast::error_code> read_head_bytes(Stream& s, beast::flat_buffer& buf,
                                                     ResponseParser& p);
  asio::awaitable<std::optional<GatewayError>> read_response_head(
      const config::UpstreamConfig& up, proxy::UpstreamConnection& conn,
      std::optional<ResponseParser>& rp);
  asio::awaitable<std::optional<GatewayError>> relay_response(
      const config::UpstreamConfig& up, std::unique_ptr<proxy::UpstreamConnection>& conn,
      ResponseParser& rp, char* body, bool& keep);
  // Streams the rest of a body from `src` to `dst` through `body` (the one body pump, for
  // both directions). `eof_ends_body`: the message is delimited by the peer closing. The
  // upstream side is a socket or a TLS stream (proxy/tls_stream.h): chosen once per message,
  // never per read or write.
  template <class Parser, class Source, class Sink>
  asio::awaitable<PumpResult> pump(Parser& p, Source& src, beast::flat_buffer& srcbuf, Sink& dst,
                                   char* body, bool eof_ends_body, std::uint64_t& read_bytes,
                                   std::uint64_t& written_bytes);
  // The pump's read: until the parser has put body bytes in the body buffer, or ended the
  // message. The bytes that wait for the parser without reaching the body (a chunk's size
  // line and extensions, the trailer fields) are bounded by kMaxPending: past it the answer
  // is http::error::header_limit (Beast's own read would grow the buffer without end).
  template <class Parser, class Source>
  asio::awaitable<beast::error_code> read_body_bytes(Parser& p, Source& src,
                                                     beast::flat_buffer& buf, bool eof_ends_body);
  // Answers a refusal, counts and logs it; returns whether the connection stays open.
  asio::awaitable<bool> reject(const runtime::Runtime& rt, const Refusal& r);
  // identity.signed_context.jwks_route: the public keys, answered by the gateway itself.
  asio::awaitable<bool> serve_jwks(const runtime::Runtime& rt);
  asio::awaitable<bool> answer(const runtime::Runtime& rt, http::response<http::string_body>& res,
                               bool keep);
  void count(Counter counter, std::string_view reason);
  void log_request(const runtime::Runtime& rt);
};

}  // namespace portcullis::server
