#include "tls/server_context.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <exception>
#include <string>
#include <string_view>

#include "tls/peer_certificate.h"
#include "tls/pem.h"
#include "tls/server_names.h"

namespace portcullis::tls {
namespace {

struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// TLS 1.2: ECDHE key exchange (forward secrecy) with AEAD ciphers only, as Mozilla's
// "intermediate" profile without the finite-field DHE suites. TLS 1.3 keeps OpenSSL's three.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

// The same on every context; each connection's own is set from the server name it asks for
// (bind_session_to_name).
constexpr unsigned char kSessionIdContext[] = "portcullis";

// RFC 6066 §3 (and OpenSSL): a HostName is at most 255 bytes.
constexpr std::size_t kMaxSniName = 255;

// OpenSSL's server cache holds at most this many sessions (its default).
constexpr long kSessionCacheEntries = 20480;

// RFC 7301: the server picks http/1.1 or refuses a client that offers only others.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kHttp11, sizeof kHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// RFC 6066 §3: a session is resumed only for the server name it was made for. OpenSSL
// resumes a session (by id, or by a TLS 1.3 ticket that names one in the cache) only when
// its session id context equals the connection's, so the connection's is made from the name
// its ClientHello asks for (SHA-256 of its canonical form: a context holds 32 bytes at most).
// The client hello callback runs before the session is looked up; the server name callback,
// which picks the certificate, runs after. No name, a name, and a name longer than DNS
// allows (OpenSSL refuses that handshake after this callback: not worth hashing) are three
// contexts apart.
int bind_session_to_name(SSL* ssl, int* alert, void*) {
  const unsigned char* ext = nullptr;
  std::size_t len = 0;
  std::string name = "portcullis/none";
  try {
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &len) == 1) {
      const std::string_view host = sni_host_name(ext, len);
      name = host.size() > kMaxSniName ? "portcullis/long"
                                       : "portcullis/name:" + canonical_server_name(host);
    }
  } catch (const std::exception&) {  // no exception may cross OpenSSL's frames
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(name.data(), name.size(), digest, &size, EVP_sha256(), nullptr) != 1 ||
      size > SSL_MAX_SID_CTX_LENGTH || SSL_set_session_id_context(ssl, digest, size) != 1) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

bool configure_common(SSL_CTX* ctx, const config::ListenerTlsConfig& config, std::string& error) {
  const int min = config.min_version == config::TlsVersion::Tls13 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (SSL_CTX_set_min_proto_version(ctx, min) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    error = "cannot set the TLS versions and ciphers: " + last_openssl_error();
    return false;
  }
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
  // Idle keep-alive connections hold no read or write buffer.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
  SSL_CTX_set_session_id_context(ctx, kSessionIdContext, sizeof kSessionIdContext - 1);
  if (config.session_timeout_s > 0) {
    // Stateful resumption: with SSL_OP_NO_TICKET, TLS 1.2 resumes by session id and TLS 1.3
    // tickets are references into this cache.
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, kSessionCacheEntries);
    SSL_CTX_set_timeout(ctx, static_cast<long>(config.session_timeout_s));
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_client_hello_cb(ctx, bind_session_to_name, nullptr);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
  }
  return true;
}

bool configure_client_certs(SSL_CTX* ctx, const config::ListenerTlsConfig& config,
                            std::string& error) {
  switch (config.client_cert) {
    case config::ClientCertMode::Off:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      return true;
    case config::ClientCertMode::Optional:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_and_continue);
      break;
    case config::ClientCertMode::Required:
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
      break;
  }
  if (config.client_ca_pem.empty()) return true;
  std::string why;
  std::vector<X509Ptr> cas;
  if (!read_certificates(config.client_ca_pem, cas, why)) {
    error = "client_ca_file " + config.client_ca_file + ": " + why;
    return false;
  }
  X509_STORE* store = SSL_CTX_get_cert_store(ctx);
  for (const auto& ca : cas) {
    // The CA names are sent in the CertificateRequest, so clients pick the right certificate.
    if (X509_STORE_add_cert(store, ca.get()) != 1 || SSL_CTX_add_client_CA(ctx, ca.get()) != 1) {
      error = "client_ca_file " + config.client_ca_file + ": " + last_openssl_error();
      return false;
    }
  }
  return true;
}

bool use_certificate(SSL_CTX* ctx, const config::ServerCertificate& c, std::string& error) {
  std::string why;
  std::vector<X509Ptr> chain;
  if (!read_certificates(c.cert_pem, chain, why)) {
    error = "cert_file " + c.cert_file + ": " + why;
    return false;
  }
  PkeyPtr key;
  if (!read_private_key(c.key_pem.reveal(), key, why)) {
    error = "key_file " + c.key_file + ": " + why;
    return false;
  }
  if (SSL_CTX_use_certificate(ctx, chain[0].get()) != 1) {
    error = "cert_file " + c.cert_file + ": " + last_openssl_error();
    return false;
  }
  // The intermediates go out with the leaf: the whole chain, as written.
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      error = "cert_file " + c.cert_file + ": " + last_openssl_error();
      return false;
    }
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    error = "key_file " + c.key_file + " does not match cert_file " + c.cert_file;
    return false;
  }
  return true;
}

}  // namespace

std::shared_ptr<const ServerTls> ServerTls::create(const config::ListenerTlsConfig& config,
                                                   std::string& error) {
  std::shared_ptr<ServerTls> tls(new ServerTls());
  for (std::size_t i = 0; i < config.certificates.size(); ++i) {
    if (!tls->add_context(config, i, error)) return nullptr;
  }
  if (tls->contexts_.empty()) {
    error = "server.tls has no certificate";
    return nullptr;
  }
  if (tls->contexts_.size() > 1) {
    SSL_CTX_set_tlsext_servername_callback(tls->contexts_[0], on_server_name);
    SSL_CTX_set_tlsext_servername_arg(tls->contexts_[0], tls.get());
  }
  return tls;
}

bool ServerTls::add_context(const config::ListenerTlsConfig& config, std::size_t index,
                            std::string& error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) {
    error = "cannot create a TLS context: " + last_openssl_error();
    return false;
  }
  const config::ServerCertificate& c = config.certificates[index];
  if (!configure_common(ctx.get(), config, error) ||
      !configure_client_certs(ctx.get(), config, error) || !use_certificate(ctx.get(), c, error)) {
    return false;
  }
  // Without server_names, the certificate answers the DNS names it carries.
  if (!c.server_names.empty()) {
    for (const auto& name : c.server_names) names_.add(name, index);
  } else {
    for (const auto& name : dns_names(SSL_CTX_get0_certificate(ctx.get()))) {
      names_.add(name, index);
    }
  }
  contexts_.push_back(ctx.release());
  return true;
}

ServerTls::~ServerTls() {
  for (SSL_CTX* ctx : contexts_) SSL_CTX_free(ctx);
}

SSL* ServerTls::new_connection() const {
  return SSL_new(contexts_[0]);
}

int ServerTls::on_server_name(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerTls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr) return SSL_TLSEXT_ERR_NOACK;
  const std::size_t index = self->names_.find(name);
  if (index != 0 && SSL_set_SSL_CTX(ssl, self->contexts_[index]) == nullptr) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace portcullis::tls
