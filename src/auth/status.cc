// The one table that maps an authentication outcome to HTTP.
#include "auth/status.h"

#include "common/join.h"

namespace portcullis::auth {

namespace {

struct Row {
  HttpClass cls;
  unsigned http;
  std::string_view error;
  std::string_view reason;
  std::string_view description;
};

constexpr Row row(Status s) {
  switch (s) {
    case Status::Ok:
      return {HttpClass::Allow, 200, "", "ok", "ok"};
    case Status::NoCredential:
    case Status::MissingCredential:
      return {HttpClass::Unauthorized, 401, "", "missing_credential",
              "no credential was presented"};
    case Status::AmbiguousCredential:
      return {HttpClass::BadRequest, 400, "invalid_request", "ambiguous_credential",
              "more than one credential was presented"};
    case Status::MalformedCredential:
      return {HttpClass::Unauthorized, 401, "invalid_token", "malformed_credential",
              "the credential is malformed"};
    case Status::UnknownCredential:
      return {HttpClass::Unauthorized, 401, "invalid_token", "unknown_credential",
              "the credential is not known"};
    case Status::InvalidCredential:
      return {HttpClass::Unauthorized, 401, "invalid_token", "invalid_credential",
              "the credential does not verify"};
    case Status::ExpiredCredential:
      return {HttpClass::Unauthorized, 401, "invalid_token", "expired_credential",
              "the credential has expired"};
    case Status::CredentialNotYetValid:
      return {HttpClass::Unauthorized, 401, "invalid_token", "credential_not_yet_valid",
              "the credential is not valid yet"};
    case Status::DisabledCredential:
      return {HttpClass::Unauthorized, 401, "invalid_token", "disabled_credential",
              "the credential is disabled"};
    case Status::RevokedCredential:
      return {HttpClass::Unauthorized, 401, "invalid_token", "revoked_credential",
              "the credential has been revoked"};
    case Status::InactiveCredential:
      return {HttpClass::Unauthorized, 401, "invalid_token", "inactive_credential",
              "the token is not active"};
    case Status::WrongAudience:
      return {HttpClass::Unauthorized, 401, "invalid_token", "wrong_audience",
              "the token was issued for another audience"};
    case Status::AlgorithmNotAllowed:
      return {HttpClass::Unauthorized, 401, "invalid_token", "algorithm_not_allowed",
              "the token's algorithm is not allowed"};
    case Status::UnknownSigningKey:
      return {HttpClass::Unauthorized, 401, "invalid_token", "unknown_signing_key",
              "the token's signing key is unknown"};
    case Status::WrongTokenType:
      return {HttpClass::Unauthorized, 401, "invalid_token", "wrong_token_type",
              "this kind of token may not be used to call APIs"};
    case Status::InvalidClaims:
      return {HttpClass::Unauthorized, 401, "invalid_token", "invalid_claims",
              "the token's claims are missing or invalid"};
    case Status::RouteNotAllowed:
      return {HttpClass::Forbidden, 403, "insufficient_scope", "route_not_allowed",
              "the credential may not be used on this route"};
    case Status::SourceNotAllowed:
      return {HttpClass::Forbidden, 403, "insufficient_scope", "source_not_allowed",
              "the credential may not be used from this address"};
    case Status::InsufficientScope:
      return {HttpClass::Forbidden, 403, "insufficient_scope", "insufficient_scope",
              "the credential lacks a required scope"};
    case Status::MissingRole:
      return {HttpClass::Forbidden, 403, "insufficient_scope", "missing_role",
              "the caller lacks a required role"};
    case Status::ClientNotAllowed:
      return {HttpClass::Forbidden, 403, "insufficient_scope", "client_not_allowed",
              "this client may not use this route"};
    case Status::ProviderUnavailable:
      return {HttpClass::Unavailable, 503, "temporarily_unavailable", "provider_unavailable",
              "the identity provider is unavailable"};
    case Status::StoreUnavailable:
      return {HttpClass::Unavailable, 503, "temporarily_unavailable", "store_unavailable",
              "the credential store is unavailable"};
    case Status::ClientCertificateMissing:
      return {HttpClass::Unauthorized, 401, "", "client_certificate_missing",
              "no client certificate was presented"};
    case Status::ClientCertificateUnverified:
      return {HttpClass::Unauthorized, 401, "invalid_certificate", "client_certificate_unverified",
              "the client certificate does not verify against the trusted CAs"};
    case Status::ClientCertificateNoIdentity:
      return {HttpClass::Unauthorized, 401, "invalid_certificate", "client_certificate_no_identity",
              "the client certificate names no client identity"};
    case Status::CertBindingNoCertificate:
      return {HttpClass::Unauthorized, 401, "invalid_token", "cert_binding_no_certificate",
              "the token must be used with the client certificate it is bound to"};
    case Status::CertBindingMissing:
      return {HttpClass::Unauthorized, 401, "invalid_token", "cert_binding_missing",
              "the token is not bound to a client certificate"};
    case Status::CertBindingMismatch:
      return {HttpClass::Unauthorized, 401, "invalid_token", "cert_binding_mismatch",
              "the token is bound to another client certificate"};
  }
  return {HttpClass::Unauthorized, 401, "invalid_token", "unknown", "authentication failed"};
}

}  // namespace

HttpClass http_class(Status s) {
  return row(s).cls;
}
unsigned http_status(Status s) {
  return row(s).http;
}
std::string_view error_code(Status s) {
  return row(s).error;
}
std::string_view reason(Status s) {
  return row(s).reason;
}
std::string_view default_description(Status s) {
  return row(s).description;
}

namespace {

// No credential at all: RFC 6750 §3.1, the answer carries no error code and the challenge
// lists the route's schemes.
bool nothing_presented(Status s) {
  return s == Status::MissingCredential || s == Status::NoCredential ||
         s == Status::ClientCertificateMissing;
}

}  // namespace

std::string_view body_error(Status s) {
  return nothing_presented(s) ? "unauthorized" : row(s).error;
}

std::string challenge(Status s, std::string_view scheme, std::string_view description,
                      std::string_view scope, std::string_view missing_challenge) {
  if (nothing_presented(s)) return std::string(missing_challenge);
  const HttpClass cls = http_class(s);
  if (cls != HttpClass::Unauthorized && cls != HttpClass::Forbidden) return {};
  std::string out(scheme.empty() ? std::string_view("Bearer") : scheme);
  out += " realm=\"portcullis\", error=\"";
  out += row(s).error;
  out += "\", error_description=\"";
  // RFC 6750 §3: error_description holds %x20-21 / %x23-5B / %x5D-7E, nothing else; the
  // descriptions are the gateway's own text, and this keeps any that were not so.
  for (const char c : description) {
    if (c >= 0x20 && c <= 0x7E && c != '"' && c != '\\') out += c;
  }
  out += '"';
  if (!scope.empty()) {
    out += ", scope=\"";
    out += scope;
    out += '"';
  }
  return out;
}

std::string missing_challenge(const std::vector<std::string>& schemes) {
  return join(schemes, ", ", [](std::string& out, const std::string& scheme) {
    out += scheme;
    out += " realm=\"portcullis\"";
  });
}

}  // namespace portcullis::auth
