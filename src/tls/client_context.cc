// OpenSSL client contexts and resumable sessions (see client_context.h).
#include "tls/client_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>

#include "tls/pem.h"

namespace portcullis::tls {
namespace {

using SlotRef = std::shared_ptr<SessionSlot>;

// The SSL's ex_data slot holding a heap SlotRef, freed with the SSL.
void free_slot_ref(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
  delete static_cast<SlotRef*>(ptr);
}

int slot_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_slot_ref);
  return index;
}

// A new session (at the end of a TLS 1.2 handshake, or a TLS 1.3 ticket read later): a copy
// is kept in the connection's slot. A copy, because OpenSSL marks the connection's own session
// not resumable when the connection is freed without a close_notify, which is how pooled
// connections end (RFC 5246 §7.2.1 no longer asks for that, and TLS 1.3 never did).
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  auto* ref = static_cast<SlotRef*>(SSL_get_ex_data(ssl, slot_index()));
  if (ref == nullptr || !*ref || SSL_SESSION_is_resumable(session) != 1) return 0;
  if (SSL_SESSION* copy = SSL_SESSION_dup(session)) (*ref)->store(copy);
  return 0;
}

bool is_ip_address(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool add_trust(SSL_CTX* ctx, const config::TlsClientConfig& c, std::string& error) {
  if (!c.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    return true;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  if (c.ca_pem.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      error = "the system's trust store cannot be loaded: " + last_openssl_error();
      return false;
    }
    return true;
  }
  std::vector<X509Ptr> cas;
  if (!read_certificates(c.ca_pem, cas, error)) {
    error = "ca_file " + c.ca_file + ": " + error;
    return false;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (auto& ca : cas) X509_STORE_add_cert(store, ca.get());
  ERR_clear_error();  // a certificate listed twice is not an error
  // What ca_file holds is trusted as written, an intermediate CA or a pinned certificate too.
  X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
  return true;
}

bool add_client_certificate(SSL_CTX* ctx, const config::TlsClientConfig& c, std::string& error) {
  if (c.cert_pem.empty()) return true;
  std::vector<X509Ptr> chain;
  PkeyPtr key;
  if (!read_certificates(c.cert_pem, chain, error)) {
    error = "client_cert_file " + c.cert_file + ": " + error;
    return false;
  }
  if (!read_private_key(c.key_pem.reveal(), key, error)) {
    error = "client_key_file " + c.key_file + ": " + error;
    return false;
  }
  if (!key_matches(chain.front().get(), key.get())) {
    error = "client_key_file " + c.key_file + " is not the key of client_cert_file " + c.cert_file;
    return false;
  }
  bool ok = SSL_CTX_use_certificate(ctx, chain.front().get()) == 1 &&
            SSL_CTX_use_PrivateKey(ctx, key.get()) == 1;
  for (std::size_t i = 1; ok && i < chain.size(); ++i) {
    ok = SSL_CTX_add1_chain_cert(ctx, chain[i].get()) == 1;
  }
  if (!ok) error = "client_cert_file " + c.cert_file + ": " + last_openssl_error();
  return ok;
}

std::atomic<std::uint64_t> g_next_id{1};

}  // namespace

SessionSlot::~SessionSlot() {
  SSL_SESSION_free(session_);
}

void SessionSlot::store(SSL_SESSION* session) {
  if (session_ != nullptr) SSL_SESSION_free(session_);
  session_ = session;
}

ClientContext::ClientContext(SSL_CTX* ctx, const config::TlsClientConfig& config)
    : ctx_(ctx),
      server_name_(config.server_name),
      verify_(config.verify),
      id_(g_next_id.fetch_add(1)) {}

ClientContext::~ClientContext() {
  SSL_CTX_free(ctx_);
}

std::shared_ptr<const ClientContext> ClientContext::create(const config::TlsClientConfig& config,
                                                           std::string& error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) {
    error = "cannot create a TLS context: " + last_openssl_error();
    return nullptr;
  }
  std::shared_ptr<const ClientContext> made(new ClientContext(ctx, config));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  static constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
  if (!add_trust(ctx, config, error) || !add_client_certificate(ctx, config, error)) {
    return nullptr;
  }
  return made;
}

SSL* ClientContext::new_connection(std::string_view host, const std::shared_ptr<SessionSlot>& slot,
                                   std::string& error) const {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) {
    error = "cannot create a TLS connection: " + last_openssl_error();
    return nullptr;
  }
  const std::string name = server_name_.empty() ? std::string(host) : server_name_;
  const bool ip = is_ip_address(name);
  bool ok = ip || SSL_set_tlsext_host_name(ssl, name.c_str()) == 1;
  if (ok && verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) == 1
            : X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) == 1;
  }
  if (ok && slot) {
    auto ref = std::make_unique<SlotRef>(slot);
    ok = SSL_set_ex_data(ssl, slot_index(), ref.get()) == 1;
    if (ok) ref.release();  // freed with the SSL (free_slot_ref)
    if (ok && slot->get() != nullptr) SSL_set_session(ssl, slot->get());
  }
  if (!ok) {
    error = "cannot prepare a TLS connection to " + name + ": " + last_openssl_error();
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

std::string handshake_failure(SSL* ssl, std::string_view fallback) {
  const long result = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  ERR_clear_error();
  if (result != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(result);
  }
  return std::string(fallback);
}

bool session_reused(SSL* ssl) {
  return ssl != nullptr && SSL_session_reused(ssl) == 1;
}

}  // namespace portcullis::tls
