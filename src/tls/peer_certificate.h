// The client certificate of a TLS connection, read once after its handshake into the
// mechanisms' view (auth::ClientCertificate): thumbprint, subjectAltName URIs and DNS names,
// subject CN, and whether the chain verified. All of it through OpenSSL's X.509 API.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

#include "auth/client_certificate.h"

namespace portcullis::tls {

// What a certificate says (sha256, san_uris, san_dns, subject_cn); `verified` stays false.
auth::ClientCertificate describe_certificate(X509* cert);

// The subjectAltName dNSName entries of any certificate, lower-cased, in order (the names a
// listener certificate without server_names answers).
std::vector<std::string> dns_names(const X509* cert);

// The connection's client certificate after the handshake (a resumed session's too); null
// when the client sent none. `verified` from the handshake's verification result; `failure`
// from what verify_and_continue recorded (Other when nothing was, as on a resumed session).
std::unique_ptr<const auth::ClientCertificate> peer_certificate(SSL* ssl);

// The verify callback of client_cert: optional: every handshake finishes whatever the
// certificate, the verdict is kept for the client_cert mechanism to judge per route. It
// records on the connection whether every failure was the client certificate's own validity
// period (OpenSSL's final result is only the last error met, of any certificate in the chain).
int verify_and_continue(int ok, X509_STORE_CTX* store);

}  // namespace portcullis::tls
