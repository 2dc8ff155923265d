// What the TLS handshake proved about the client, as the mechanisms see it: read once per
// connection from the peer certificate (tls/peer_certificate.h), with no OpenSSL type in
// sight, so the mechanisms and their tests need no sockets.
#pragma once

#include <string>
#include <vector>

namespace portcullis::auth {

// Why a client certificate did not verify, as far as its holder can act on it.
enum class VerifyFailure : unsigned char {
  None,
  Expired,      // past its notAfter
  NotYetValid,  // before its notBefore
  Other,        // no chain to client_ca_file, a bad signature, a wrong purpose, ...
};

struct ClientCertificate {
  // The chain verified against server.tls.client_ca_file. With client_cert: optional a
  // certificate that does not verify still completes the handshake; client_cert routes then
  // refuse it, while certificate-bound tokens (RFC 8705 §2.2 allows self-signed
  // certificates) only compare thumbprints.
  bool verified = false;
  std::string verify_error;  // OpenSSL's reason when not verified
  VerifyFailure failure = VerifyFailure::None;
  // base64url (no padding) of SHA-256 over the certificate's DER: RFC 8705's x5t#S256.
  std::string sha256;
  std::vector<std::string> san_uris;  // subjectAltName uniformResourceIdentifier, in order
  std::vector<std::string> san_dns;   // subjectAltName dNSName, in order
  std::string subject_cn;             // the subject's (last) commonName; empty when none
};

}  // namespace portcullis::auth
