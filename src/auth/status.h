// Every way authentication or authorization can end, as one enum. The HTTP status, the
// RFC 6750 error code and the default description are chosen in exactly one place
// (status.cc); the rest of the gateway passes Status values around.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth {

enum class Status : std::uint8_t {
  // Authenticated (or the route needs no authentication).
  Ok,
  // This mechanism found no credential of its kind; the chain tries the next one.
  NoCredential,
  // No mechanism of the route found a credential.
  MissingCredential,
  // More than one Authorization header, or a credential in two places at once.
  AmbiguousCredential,
  // The credential is syntactically broken (bad format, bad checksum, bad encoding).
  MalformedCredential,
  // The credential does not match anything known (unknown key id, unknown issuer).
  UnknownCredential,
  // The credential's secret or signature does not verify.
  InvalidCredential,
  // The credential has expired.
  ExpiredCredential,
  // The credential is not valid yet (nbf in the future).
  CredentialNotYetValid,
  // The credential has been disabled by an operator.
  DisabledCredential,
  // The credential has been revoked.
  RevokedCredential,
  // The identity provider says the token is not active (RFC 7662 active:false: revoked,
  // expired or never issued; the provider does not say which).
  InactiveCredential,
  // The token was issued for another audience.
  WrongAudience,
  // The token's algorithm is not in the provider's allow-list.
  AlgorithmNotAllowed,
  // The token's signing key is unknown to the provider's key set.
  UnknownSigningKey,
  // The token is of a kind that may not call APIs (ID token, refresh token).
  WrongTokenType,
  // The token's claims are missing, of the wrong type or out of bounds (a required claim
  // absent, exp not a number, lifetime above the maximum, a claim that cannot be forwarded).
  InvalidClaims,
  // Authenticated, but the credential may not be used on this route.
  RouteNotAllowed,
  // Authenticated, but the request comes from a source address the credential excludes.
  SourceNotAllowed,
  // Authenticated, but a required scope is missing.
  InsufficientScope,
  // Authenticated, but a required role is missing.
  MissingRole,
  // Authenticated, but this client may not use the route.
  ClientNotAllowed,
  // The keys or the identity provider needed to decide are unavailable right now.
  ProviderUnavailable,
  // The credential store could not be read and holds no last good view.
  StoreUnavailable,
  // A client_cert route, and the connection presented no client certificate (and no other
  // method of the route found a credential).
  ClientCertificateMissing,
  // The connection's client certificate did not verify against server.tls.client_ca_file.
  ClientCertificateUnverified,
  // The client certificate verified but holds none of the names client_id_from looks for.
  ClientCertificateNoIdentity,
  // RFC 8705: the provider requires certificate-bound tokens and the connection presented no
  // client certificate.
  CertBindingNoCertificate,
  // RFC 8705: the provider requires certificate-bound tokens and this one has no
  // cnf["x5t#S256"].
  CertBindingMissing,
  // RFC 8705: the token is bound to another certificate than the connection's.
  CertBindingMismatch,
};

enum class HttpClass : std::uint8_t { Allow, Unauthorized, Forbidden, BadRequest, Unavailable };

// 200-class pass, 401, 403, 400 or 503.
HttpClass http_class(Status s);
unsigned http_status(Status s);
// The RFC 6750 error code ("invalid_token", "insufficient_scope", "invalid_request",
// "temporarily_unavailable", and "invalid_certificate" for client certificates); empty for
// MissingCredential and ClientCertificateMissing, which carry none.
std::string_view error_code(Status s);
// A stable snake_case name for logs and metric labels ("expired_credential").
std::string_view reason(Status s);
// A short human description used when the mechanism gives none.
std::string_view default_description(Status s);
// The JSON body's "error": the RFC 6750 code, or "unauthorized" when no credential was
// presented (RFC 6750 §3.1: such a challenge carries no error code).
std::string_view body_error(Status s);

// The WWW-Authenticate value for a refusal (RFC 6750 §3), or empty when it carries none
// (400, 503). `scheme` is the refusing mechanism's ("Bearer" when empty); a request with no
// credential gets `missing_challenge`, the route's list of schemes.
std::string challenge(Status s, std::string_view scheme, std::string_view description,
                      std::string_view scope, std::string_view missing_challenge);
// The route's challenge for a request with no credential: each scheme with the realm.
std::string missing_challenge(const std::vector<std::string>& schemes);

}  // namespace portcullis::auth
