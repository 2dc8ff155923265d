// The one table of the gateway's own refusals.
#include "server/gateway_error.h"

#include <iterator>
#include <utility>

namespace portcullis::server {

namespace {

constexpr GatewayErrorInfo bad_request(std::string_view description, std::string_view reason) {
  return {400, "invalid_request", description, reason, true, Counter::BadRequest};
}
constexpr GatewayErrorInfo bad_gateway(std::string_view description, std::string_view reason) {
  return {502, "bad_gateway", description, reason, true, Counter::UpstreamError};
}
constexpr GatewayErrorInfo gateway_timeout(std::string_view description, std::string_view reason) {
  return {504, "gateway_timeout", description, reason, true, Counter::UpstreamError};
}

struct Row {
  GatewayError error;
  GatewayErrorInfo info;
};

using E = GatewayError;
// In enum order (checked below), so a lookup is an index.
constexpr Row kRows[] = {
    {E::HeaderTooLarge,
     GatewayErrorInfo{431, "request_header_fields_too_large", "the request head is too large",
                      "header_too_large", true, Counter::BadRequest}},
    {E::HeaderTimeout,
     GatewayErrorInfo{408, "request_timeout", "the request head did not arrive in time",
                      "header_timeout", true, Counter::BadRequest}},
    {E::BareCR, bad_request("bare CR in request head", "malformed_head")},
    {E::BareLF, bad_request("bare LF in request head", "malformed_head")},
    {E::ObsFold, bad_request("obsolete line folding in request head", "malformed_head")},
    {E::ControlChar, bad_request("control character in request head", "malformed_head")},
    {E::MalformedHead, bad_request("the request head is not valid HTTP/1.1", "malformed_head")},
    {E::BadVersion, bad_request("unsupported HTTP version", "malformed_head")},
    {E::BadHost, bad_request("exactly one Host header is required", "malformed_head")},
    {E::MalformedHost,
     bad_request("the Host header is not a host name or address", "malformed_head")},
    {E::MethodCase, bad_request("the method must be written in upper case", "method_case")},
    {E::ConnectMethod, GatewayErrorInfo{405, "method_not_allowed", "CONNECT is not supported",
                                        "connect_method", true, Counter::BadRequest}},
    {E::LengthAndChunked, bad_request("both Content-Length and Transfer-Encoding", "smuggling")},
    {E::UnsupportedEncoding, bad_request("unsupported Transfer-Encoding", "smuggling")},
    {E::ConflictingLength, bad_request("conflicting Content-Length headers", "smuggling")},
    {E::TwoAuthorization,
     bad_request("more than one Authorization header", "ambiguous_credential")},
    {E::ChunkedHttp10, bad_request("Transfer-Encoding in an HTTP/1.0 request", "smuggling")},
    {E::EncodedSeparator, bad_request("encoded '/', '\\' or NUL in the path", "encoded_separator")},
    {E::MalformedTarget, bad_request("malformed request target", "malformed_target")},
    {E::DotSegmentParameter,
     bad_request("a dot segment with a ';' parameter in the path", "dot_segment_parameter")},
    {E::NoRoute, GatewayErrorInfo{404, "not_found", "no route matches this request", "no_route",
                                  false, Counter::None}},
    {E::RateLimited,
     GatewayErrorInfo{429, "rate_limited", "a rate limit of this route is exhausted",
                      "rate_limited", false, Counter::None}},
    {E::BodyTooLarge, GatewayErrorInfo{413, "payload_too_large", "the request body is too large",
                                       "body_too_large", true, Counter::None}},
    {E::BodyTimeout,
     GatewayErrorInfo{408, "request_timeout", "the request body did not arrive in time",
                      "body_timeout", true, Counter::None}},
    {E::BadBody,
     GatewayErrorInfo{400, "invalid_request", "the request body is malformed or incomplete",
                      "bad_body", true, Counter::None}},
    {E::UnsafeIdentity,
     GatewayErrorInfo{500, "internal_error", "the identity could not be forwarded",
                      "unsafe_identity", true, Counter::None}},
    {E::UpstreamConnectFailed,
     bad_gateway("the upstream refused the connection", "upstream_connect_failed")},
    {E::UpstreamConnectTimeout, gateway_timeout("the upstream did not accept a connection in time",
                                                "upstream_connect_timeout")},
    {E::UpstreamTls, bad_gateway("the TLS handshake with the upstream failed", "upstream_tls")},
    {E::UpstreamWriteFailed, bad_gateway("the upstream connection broke", "upstream_write_failed")},
    {E::UpstreamReadFailed,
     bad_gateway("the upstream closed or sent an invalid response", "upstream_read_failed")},
    {E::UpstreamTimeout,
     gateway_timeout("the upstream did not answer in time", "upstream_timeout")},
    {E::UpstreamUpgrade, bad_gateway("the upstream tried to switch protocols", "upstream_upgrade")},
    {E::UpstreamBodyFailed,
     bad_gateway("the upstream response body broke", "upstream_body_failed")},
    {E::ClientGone,
     GatewayErrorInfo{499, "client_closed_request", "the client closed the connection",
                      "client_gone", true, Counter::None}},
    {E::DrainTimeout,
     GatewayErrorInfo{503, "service_unavailable", "the gateway stopped before the request ended",
                      "drain_timeout", true, Counter::None}},
};

constexpr bool in_enum_order() {
  for (std::size_t i = 0; i < std::size(kRows); ++i) {
    if (static_cast<std::size_t>(kRows[i].error) != i) return false;
  }
  return std::size(kRows) == static_cast<std::size_t>(GatewayError::DrainTimeout) + 1;
}
static_assert(in_enum_order(), "one row per GatewayError, in enum order");

}  // namespace

const GatewayErrorInfo& info(GatewayError e) {
  return kRows[static_cast<std::size_t>(e)].info;
}

Refusal Refusal::from(GatewayError e) {
  const GatewayErrorInfo& i = info(e);
  Refusal r;
  r.status = i.status;
  r.error = i.error;
  r.description = std::string(i.description);
  r.reason = i.reason;
  r.close = i.close;
  r.counter = i.counter;
  return r;
}

Refusal Refusal::from_auth(auth::Status s, std::string description, std::string_view scheme,
                           std::string_view scope, std::string_view missing_challenge) {
  Refusal r;
  r.status = auth::http_status(s);
  r.error = auth::body_error(s);
  r.description =
      description.empty() ? std::string(auth::default_description(s)) : std::move(description);
  r.reason = auth::reason(s);
  r.close = false;
  r.counter = Counter::AuthFailure;
  r.caller_verdict = true;
  r.challenge = auth::challenge(s, scheme, r.description, scope, missing_challenge);
  return r;
}

}  // namespace portcullis::server
