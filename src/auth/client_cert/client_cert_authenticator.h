// The client_cert mechanism: the client certificate that the connection's TLS handshake
// verified against server.tls.client_ca_file is the credential. Its identity is read once
// per connection (tls/peer_certificate.h hands it over as auth::ClientCertificate); this
// mechanism only picks the client id (client_cert.client_id_from: the first of san_uri,
// san_dns, subject_cn present) and knows no sockets.
//
// Outcomes: no certificate -> the next mechanism of the route (when this is the route's only
// method: 401 client_certificate_missing); a certificate that did not verify -> 401
// client_certificate_unverified (it is a credential, and a failed one: the chain stops);
// verified but without a usable name -> 401 client_certificate_no_identity; else Ok with
// X-Client-Id and X-Auth-Method: client-cert.
#pragma once

#include <vector>

#include "auth/authenticator.h"
#include "config/config.h"

namespace portcullis::auth::client_cert {

// The scheme named in WWW-Authenticate for a certificate (no HTTP scheme exists for TLS
// client authentication; RFC 9110 asks a 401 for one challenge at least).
inline constexpr std::string_view kScheme = "ClientCert";

class ClientCertAuthenticator : public Authenticator {
 public:
  // `only_method`: the route has no other method, so a missing certificate is this
  // mechanism's refusal rather than "not mine".
  ClientCertAuthenticator(std::vector<config::CertIdentitySource> client_id_from, bool only_method);

  std::string_view method() const override { return "client_cert"; }
  std::string_view challenge_scheme() const override { return kScheme; }
  // Nothing in the request carries it: nothing to scrub.
  const CredentialExtractor& credentials() const override { return nowhere_; }
  void authenticate(const AuthRequest& request, AuthCallback done) override;

 private:
  std::vector<config::CertIdentitySource> client_id_from_;
  bool only_method_;
  CredentialExtractor nowhere_;
};

// The client id `sources` pick from a certificate: the first source that has a value (the
// first URI, the first DNS name, the common name). Empty when none has.
std::string client_id_of(const ClientCertificate& cert,
                         const std::vector<config::CertIdentitySource>& sources);

}  // namespace portcullis::auth::client_cert
