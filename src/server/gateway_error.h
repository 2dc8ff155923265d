// Every refusal the gateway answers itself, as one enum and one table (gateway_error.cc):
// HTTP status, JSON error code, default description, log/metric reason, whether the
// connection closes, and which counter counts it. Authentication outcomes keep their own
// table (auth/status.cc); `Refusal::from_auth` turns one into the same answer shape, with its
// WWW-Authenticate challenge. The session answers every refusal through one `reject()`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "auth/status.h"

namespace portcullis::server {

enum class GatewayError : std::uint8_t {
  // The request head.
  HeaderTooLarge,  // longer than server.max_header_bytes (431)
  HeaderTimeout,   // not complete within server.header_timeout_s (408)
  BareCR,          // CR not followed by LF
  BareLF,          // LF not preceded by CR
  ObsFold,         // a header line continued with leading whitespace
  ControlChar,     // NUL or another control character in the head
  MalformedHead,   // Beast could not parse the head
  BadVersion,      // neither HTTP/1.1 nor HTTP/1.0
  BadHost,         // no Host on HTTP/1.1, or more than one
  MalformedHost,   // a Host that is no host[:port] ("user:pw@h", quotes, a path)
  MethodCase,      // a method with a lower-case letter ("post"): routed as another method than
                   // the upstream may take it for (Django, Flask, Rails upper-case it)
  ConnectMethod,   // CONNECT: a tunnel, which a reverse proxy does not open (405)
  // Framing that two parsers could read differently.
  LengthAndChunked,     // both Content-Length and Transfer-Encoding
  UnsupportedEncoding,  // a Transfer-Encoding other than a single "chunked"
  ConflictingLength,    // Content-Length values that differ
  TwoAuthorization,     // more than one Authorization header
  ChunkedHttp10,        // Transfer-Encoding in an HTTP/1.0 request (RFC 9112 §6.1)
  // The target.
  EncodedSeparator,     // an encoded '/', '\' or NUL in the path
  MalformedTarget,      // not an origin- or absolute-form target
  DotSegmentParameter,  // "..;x" or ".;x": servlet containers resolve it, others do not
  NoRoute,              // no route matches (404)
  RateLimited,          // a rate limit of the route is exhausted (429, with Retry-After)
  // The request body.
  BodyTooLarge,  // above server.max_body_bytes (413)
  BodyTimeout,   // stalled for server.body_timeout_s (408)
  BadBody,       // malformed chunking, or the client closed mid-body
  // The identity could not be forwarded (a header value that could split a line).
  UnsafeIdentity,
  // The upstream. A failure before any response byte reached the client is answered
  // (502/504); one after it only cuts the connection (UpstreamBodyFailed).
  UpstreamConnectFailed,
  UpstreamConnectTimeout,
  UpstreamTls,  // the TLS handshake failed (certificate not verified, ours refused...): 502
  UpstreamWriteFailed,
  UpstreamReadFailed,  // closed, or sent an invalid head (a reused connection: retried once)
  UpstreamTimeout,
  UpstreamUpgrade,     // 101 Switching Protocols, which the gateway does not relay
  UpstreamBodyFailed,  // the response body broke after its head was sent: not answerable
  // The client went away while the response was written: not answerable.
  ClientGone,
  // Cut by the gateway at the drain deadline (server.drain_timeout_s): not answerable.
  DrainTimeout,
};

// Which counter a refusal adds to (besides the per-request series).
enum class Counter : std::uint8_t { None, BadRequest, UpstreamError, AuthFailure };

struct GatewayErrorInfo {
  unsigned status;
  std::string_view error;        // JSON "error"
  std::string_view description;  // JSON "error_description"
  std::string_view reason;       // access log "reason" and metric label
  bool close;                    // the connection cannot be reused after it
  Counter counter;
};

const GatewayErrorInfo& info(GatewayError e);

// An answer the gateway gives instead of the upstream's.
struct Refusal {
  unsigned status = 500;
  std::string_view error;
  std::string description;
  std::string_view reason;
  bool close = true;
  Counter counter = Counter::None;
  std::string challenge;       // WWW-Authenticate, empty for none
  unsigned retry_after_s = 0;  // Retry-After (429), 0 for none
  // A verdict on the caller (authentication, policy, an identity provider that cannot
  // answer), which a route in shadow mode forwards instead (server/enforcement.h); never one
  // of the gateway's own refusals above.
  bool caller_verdict = false;

  static Refusal from(GatewayError e);
  // An authentication or policy refusal. `scheme`: the mechanism's challenge scheme (Bearer
  // when empty); `missing_challenge`: the route's challenges for a request with no credential.
  static Refusal from_auth(auth::Status s, std::string description, std::string_view scheme,
                           std::string_view scope, std::string_view missing_challenge);
};

}  // namespace portcullis::server
