// RFC 8705 §3 certificate-bound access tokens: the token (a JWT's payload, or an
// introspection answer) names the thumbprint of the client certificate it was issued to in
// cnf["x5t#S256"], and only a connection that presented that certificate may use it. Shared
// by the jwt and oauth2 mechanisms; pure, so unit tests drive it directly.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "auth/authenticator.h"
#include "auth/client_certificate.h"
#include "auth/status.h"

namespace portcullis::auth {

// The token's cnf["x5t#S256"]; nullopt when there is no cnf, it is not an object, or the
// member is missing or not a non-empty string.
std::optional<std::string> cnf_thumbprint(const boost::json::object& claims);

// Whether a token bound to `bound` (its cnf thumbprint; empty: none) may be used on a
// connection that presented `cert` (null: none). Ok, or one of CertBindingNoCertificate,
// CertBindingMissing, CertBindingMismatch.
Status check_cert_binding(std::string_view bound, const ClientCertificate* cert);

// Applied to a mechanism's answer when its provider sets require_cert_binding: an Ok result
// whose identity is not bound to this connection's certificate becomes a refusal (401
// invalid_token with the reason, the identity kept for the access log, as for any genuine
// credential refused); a bound one gets the certificate's thumbprint. Refusals pass
// unchanged.
void enforce_cert_binding(AuthResult& result, const ClientCertificate* cert);

}  // namespace portcullis::auth
