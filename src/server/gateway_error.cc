// The one table of the gateway's own refusals.
#include "server/gateway_error.h"

#include <array>
#include <utility>

namespace portcullis::server {

namespace {

constexpr GatewayErrorInfo kBadRequest(std::string_view description, std::string_view reason) {
  return {400, "invalid_request", description, reason, true, Counter::BadRequest};
}
constexpr GatewayErrorInfo kBadGateway(std::string_view description, std::string_view reason) {
  return {502, "bad_gateway", description, reason, true, Counter::UpstreamError};
}
constexpr GatewayErrorInfo kGatewayTimeout(std::string_view description, std::string_view reason) {
  return {504, "gateway_timeout", description, reason, true, Counter::UpstreamError};
}

constexpr GatewayErrorInfo row(GatewayError e) {
  using E = GatewayError;
  switch (e) {
    case E::HeaderTooLarge:
      return {431,
              "request_header_fields_too_large",
              "the request head is too large",
              "header_too_large",
              true,
              Counter::BadRequest};
    case E::HeaderTimeout:
      return {408,  "request_timeout",  "the request head did not arrive in time", "header_timeout",
              true, Counter::BadRequest};
    case E::BareCR:
      return kBadRequest("bare CR in request head", "malformed_head");
    case E::BareLF:
      return kBadRequest("bare LF in request head", "malformed_head");
    case E::ObsFold:
      return kBadRequest("obsolete line folding in request head", "malformed_head");
    case E::ControlChar:
      return kBadRequest("control character in request head", "malformed_head");
    case E::MalformedHead:
      return kBadRequest("the request head is not valid HTTP/1.1", "malformed_head");
    case E::BadVersion:
      return kBadRequest("unsupported HTTP version", "malformed_head");
    case E::BadHost:
      return kBadRequest("exactly one Host header is required", "malformed_head");
    case E::LengthAndChunked:
      return kBadRequest("both Content-Length and Transfer-Encoding", "smuggling");
    case E::UnsupportedEncoding:
      return kBadRequest("unsupported Transfer-Encoding", "smuggling");
    case E::ConflictingLength:
      return kBadRequest("conflicting Content-Length headers", "smuggling");
    case E::TwoAuthorization:
      return kBadRequest("more than one Authorization header", "ambiguous_credential");
    case E::EncodedSeparator:
      return kBadRequest("encoded '/', '\\' or NUL in the path", "encoded_separator");
    case E::MalformedTarget:
      return kBadRequest("malformed request target", "malformed_target");
    case E::NoRoute:
      return {404, "not_found", "no route matches this request", "no_route", false, Counter::None};
    case E::BodyTooLarge:
      return {413,  "payload_too_large", "the request body is too large", "body_too_large",
              true, Counter::None};
    case E::BodyTimeout:
      return {408,  "request_timeout", "the request body did not arrive in time", "body_timeout",
              true, Counter::None};
    case E::BadBody:
      return {400,  "invalid_request", "the request body is malformed or incomplete", "bad_body",
              true, Counter::None};
    case E::UnsafeIdentity:
      return {500,  "internal_error", "the identity could not be forwarded", "unsafe_identity",
              true, Counter::None};
    case E::UpstreamConnectFailed:
      return kBadGateway("the upstream refused the connection", "upstream_connect_failed");
    case E::UpstreamConnectTimeout:
      return kGatewayTimeout("the upstream did not accept a connection in time",
                             "upstream_connect_timeout");
    case E::UpstreamWriteFailed:
      return kBadGateway("the upstream connection broke", "upstream_write_failed");
    case E::UpstreamReadFailed:
      return kBadGateway("the upstream closed or sent an invalid response", "upstream_read_failed");
    case E::UpstreamTimeout:
      return kGatewayTimeout("the upstream did not answer in time", "upstream_timeout");
    case E::UpstreamUpgrade:
      return kBadGateway("the upstream tried to switch protocols", "upstream_upgrade");
    case E::UpstreamBodyFailed:
      return kBadGateway("the upstream response body broke", "upstream_body_failed");
    case E::ClientGone:
      return {499,
              "client_closed_request",
              "the client closed the connection",
              "client_gone",
              true,
              Counter::None};
  }
  return {500, "internal_error", "internal error", "internal_error", true, Counter::None};
}

template <std::size_t... I>
constexpr auto make_table(std::index_sequence<I...>) {
  return std::array<GatewayErrorInfo, sizeof...(I)>{row(static_cast<GatewayError>(I))...};
}

constexpr auto kTable =
    make_table(std::make_index_sequence<static_cast<std::size_t>(GatewayError::ClientGone) + 1>());

}  // namespace

const GatewayErrorInfo& info(GatewayError e) {
  return kTable[static_cast<std::size_t>(e)];
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
  r.challenge = auth::challenge(s, scheme, r.description, scope, missing_challenge);
  return r;
}

}  // namespace portcullis::server
