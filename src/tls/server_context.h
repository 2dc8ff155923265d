// The listener's TLS for one configuration (server.tls): an OpenSSL context per certificate,
// all alike but for the certificate, and the SNI table that picks one. Every handshake starts
// on the first (the default) context, whose session cache therefore serves all of them.
//
// Safe by construction: TLS 1.2 or 1.3 only (SSLv3, TLS 1.0/1.1 refused), AEAD ciphers with
// forward secrecy for TLS 1.2, no compression, no renegotiation, ALPN http/1.1 only (a
// client offering only other protocols gets no_application_protocol), resumption through
// the session cache (stateful TLS 1.3 tickets, no ticket keys to rotate or leak), and the
// client certificate asked for as client_cert says.
//
// Immutable once built; a reload builds a new one (the runtime holds it), and connections
// in their handshake keep theirs. OpenSSL contexts are safe to share across the workers.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <vector>

#include "config/listener_tls_config.h"
#include "tls/server_names.h"

namespace portcullis::tls {

class ServerTls {
 public:
  // Null with `error` set when a certificate, key or CA cannot be used (the messages name
  // files, never key material).
  static std::shared_ptr<const ServerTls> create(const config::ListenerTlsConfig& config,
                                                 std::string& error);
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // A new server-side SSL for one connection (owned by the caller), or null when OpenSSL
  // cannot make one. The object must outlive the handshake.
  SSL* new_connection() const;

 private:
  ServerTls() = default;
  bool add_context(const config::ListenerTlsConfig& config, std::size_t index, std::string& error);
  static int on_server_name(SSL* ssl, int* alert, void* arg);

  std::vector<SSL_CTX*> contexts_;  // owned; [0] is the default
  ServerNames names_;
};

}  // namespace portcullis::tls
