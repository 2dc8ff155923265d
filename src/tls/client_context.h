// The gateway as a TLS client (to https:// upstreams and identity providers): one OpenSSL
// context per configured destination, built from its config::TlsClientConfig, and the
// session each destination may resume. No Asio and no OpenSSL headers here: the connection
// code (proxy/upstream_pool.cc, net/http_client.cc) hands the SSL this makes to Asio's ssl
// stream, which owns it from then on.
//
// Verification is on unless the config turned it off: the peer's chain must reach ca_file
// (or the system's trust store), and its certificate must name the server (server_name, or
// the URL's host: a DNS name, with SNI sent, or an IP address, checked against IP SANs and
// never sent as SNI). TLS 1.2 at least; no compression, no renegotiation; ALPN http/1.1.
//
// Resumption: a context never caches sessions itself. Whoever pools connections to one
// destination keeps a SessionSlot for it (one per worker thread, so no lock); new sessions
// (TLS 1.3 tickets arrive after the handshake) land in the slot of the connection that got
// them, and the next connection to the destination offers it. A slot belongs to one context:
// a session is never resumed under other verification settings.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "config/tls_config.h"

struct ssl_ctx_st;
struct ssl_st;
struct ssl_session_st;

namespace portcullis::tls {

class SessionSlot {
 public:
  SessionSlot() = default;
  ~SessionSlot();
  SessionSlot(const SessionSlot&) = delete;
  SessionSlot& operator=(const SessionSlot&) = delete;

  // Keeps `session` (taking over the caller's reference), dropping the one held before.
  void store(ssl_session_st* session);
  ssl_session_st* get() const { return session_; }
  void clear() { store(nullptr); }

 private:
  ssl_session_st* session_ = nullptr;
};

class ClientContext {
 public:
  // Null with `error` set when the settings cannot be used (a CA file without certificates,
  // a key that does not match its certificate...): config_check.h reports the same at the
  // config's positions before a config is accepted.
  static std::shared_ptr<const ClientContext> create(const config::TlsClientConfig& config,
                                                     std::string& error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // An SSL, ready for a client handshake, for a connection to `host` (the URL's host;
  // server_name wins when set). It offers `slot`'s session and stores the new ones there;
  // the SSL keeps the slot alive. Null with `error` set (out of memory).
  ssl_st* new_connection(std::string_view host, const std::shared_ptr<SessionSlot>& slot,
                         std::string& error) const;

  // Unique for the process's lifetime: pools key connections and sessions by it.
  std::uint64_t id() const { return id_; }
  bool verifies() const { return verify_; }

 private:
  ClientContext(ssl_ctx_st* ctx, const config::TlsClientConfig& config);

  ssl_ctx_st* ctx_;
  std::string server_name_;
  bool verify_;
  std::uint64_t id_;
};

// Why a client handshake failed, for logs: the certificate check's result when that is what
// failed ("certificate verify failed: certificate has expired"), else `fallback` (the
// handshake's own error: an alert from the server, a closed connection...).
std::string handshake_failure(ssl_st* ssl, std::string_view fallback);

// Whether the handshake resumed a session.
bool session_reused(ssl_st* ssl);

}  // namespace portcullis::tls
