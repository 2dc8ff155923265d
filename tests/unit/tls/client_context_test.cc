// The TLS client context against a real OpenSSL server, handshaking in memory (a BIO pair):
// verification by CA, name and IP, validity, SNI, the client certificate, tls_verify off,
// and session resumption through a SessionSlot.
#include "tls/client_context.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "test_pki.h"

namespace portcullis::tls {
namespace {

using testing::KeyPair;
using testing::make_ca;
using testing::make_cert;

// An in-memory TLS server with one certificate; optionally requiring a client certificate.
class Server {
 public:
  Server(const KeyPair& cert, const KeyPair* client_ca = nullptr) {
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate(ctx_, cert.cert);
    SSL_CTX_use_PrivateKey(ctx_, cert.key);
    if (client_ca != nullptr) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), client_ca->cert);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    SSL_CTX_set_tlsext_servername_callback(ctx_, &Server::on_sni);
    SSL_CTX_set_tlsext_servername_arg(ctx_, this);
  }
  ~Server() { SSL_CTX_free(ctx_); }

  struct Outcome {
    bool ok = false;
    std::string client_error;  // handshake_failure() on the client side
    bool reused = false;
    bool client_cert_seen = false;
  };

  // One connection from `client`: handshake, then the client reads once (a TLS 1.3 ticket
  // arrives after the handshake).
  Outcome connect(SSL* client) {
    SSL* server = SSL_new(ctx_);
    BIO *cb = nullptr, *sb = nullptr;
    BIO_new_bio_pair(&cb, 0, &sb, 0);
    SSL_set_bio(client, cb, cb);
    SSL_set_bio(server, sb, sb);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server);
    Outcome o;
    for (int i = 0; i < 50 && !o.ok; ++i) {
      const int rc = SSL_do_handshake(client);
      const int rs = SSL_do_handshake(server);
      if (rc == 1 && rs == 1) o.ok = true;
      const int ec = SSL_get_error(client, rc);
      if (rc != 1 && ec != SSL_ERROR_WANT_READ && ec != SSL_ERROR_WANT_WRITE) break;
    }
    if (o.ok) {
      char byte;
      SSL_write(server, "x", 1);
      o.ok = SSL_read(client, &byte, 1) == 1;
      X509* peer = SSL_get1_peer_certificate(server);
      o.client_cert_seen = peer != nullptr;
      X509_free(peer);
    }
    o.client_error = o.ok ? "" : handshake_failure(client, "handshake failed");
    o.reused = session_reused(client);
    SSL_free(client);
    SSL_free(server);
    ERR_clear_error();
    return o;
  }
  const std::string& sni_name() const { return sni_name_; }

 private:
  static int on_sni(SSL* ssl, int*, void* arg) {
    const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    static_cast<Server*>(arg)->sni_name_ = name ? name : "";
    return SSL_TLSEXT_ERR_OK;
  }
  SSL_CTX* ctx_;
  std::string sni_name_;
};

class ClientContextTest : public ::testing::Test {
 protected:
  KeyPair ca = make_ca("test-ca");
  KeyPair other_ca = make_ca("other-ca");
  KeyPair server = make_cert("orders.internal", &ca, "DNS:orders.internal,IP:127.0.0.1");

  config::TlsClientConfig trusting(const KeyPair& anchor) {
    config::TlsClientConfig c;
    c.ca_file = "/test/ca.pem";
    c.ca_pem = anchor.cert_pem();
    return c;
  }
  std::shared_ptr<const ClientContext> context(const config::TlsClientConfig& c) {
    std::string error;
    auto ctx = ClientContext::create(c, error);
    EXPECT_TRUE(ctx) << error;
    return ctx;
  }
  Server::Outcome connect(const ClientContext& ctx, std::string_view host, const KeyPair& cert,
                          std::shared_ptr<SessionSlot> slot = nullptr,
                          const KeyPair* client_ca = nullptr) {
    Server s(cert, client_ca);
    std::string error;
    SSL* ssl = ctx.new_connection(host, slot, error);
    EXPECT_NE(ssl, nullptr) << error;
    auto o = s.connect(ssl);
    last_sni_ = s.sni_name();
    return o;
  }
  std::string last_sni_;
};

TEST_F(ClientContextTest, VerifiesTheChainAndTheName) {
  auto ctx = context(trusting(ca));
  auto ok = connect(*ctx, "orders.internal", server);
  EXPECT_TRUE(ok.ok) << ok.client_error;
  EXPECT_EQ(last_sni_, "orders.internal");

  auto by_ip = connect(*ctx, "127.0.0.1", server);
  EXPECT_TRUE(by_ip.ok) << by_ip.client_error;
  EXPECT_EQ(last_sni_, "") << "an IP address is never sent as SNI";

  auto wrong_name = connect(*ctx, "billing.internal", server);
  EXPECT_FALSE(wrong_name.ok);
  EXPECT_NE(wrong_name.client_error.find("hostname mismatch"), std::string::npos)
      << wrong_name.client_error;

  auto wrong_ip = connect(*ctx, "127.0.0.2", server);
  EXPECT_FALSE(wrong_ip.ok);
  EXPECT_NE(wrong_ip.client_error.find("IP address mismatch"), std::string::npos)
      << wrong_ip.client_error;
}

TEST_F(ClientContextTest, ServerNameOverridesTheHost) {
  auto c = trusting(ca);
  c.server_name = "orders.internal";
  auto ctx = context(c);
  auto o = connect(*ctx, "10.1.2.3", server);
  EXPECT_TRUE(o.ok) << o.client_error;
  EXPECT_EQ(last_sni_, "orders.internal");
}

TEST_F(ClientContextTest, RefusesAnUntrustedOrExpiredCertificate) {
  auto untrusted = connect(*context(trusting(other_ca)), "orders.internal", server);
  EXPECT_FALSE(untrusted.ok);
  EXPECT_NE(untrusted.client_error.find("unable to get local issuer certificate"),
            std::string::npos)
      << untrusted.client_error;

  KeyPair expired = make_cert("orders.internal", &ca, "DNS:orders.internal", false, -60, -30);
  auto old = connect(*context(trusting(ca)), "orders.internal", expired);
  EXPECT_FALSE(old.ok);
  EXPECT_NE(old.client_error.find("certificate has expired"), std::string::npos)
      << old.client_error;
}

TEST_F(ClientContextTest, TheSystemStoreDoesNotTrustATestCa) {
  auto o = connect(*context(config::TlsClientConfig{}), "orders.internal", server);
  EXPECT_FALSE(o.ok);
  EXPECT_NE(o.client_error.find("certificate verify failed"), std::string::npos) << o.client_error;
}

TEST_F(ClientContextTest, VerificationOffAcceptsAnything) {
  config::TlsClientConfig c;
  c.verify = false;
  auto ctx = context(c);
  EXPECT_FALSE(ctx->verifies());
  KeyPair expired = make_cert("elsewhere", &other_ca, "DNS:elsewhere", false, -60, -30);
  auto o = connect(*ctx, "orders.internal", expired);
  EXPECT_TRUE(o.ok) << o.client_error;
}

TEST_F(ClientContextTest, PresentsTheClientCertificate) {
  KeyPair client_ca = make_ca("clients");
  KeyPair gw = make_cert("gateway", &client_ca, "DNS:gateway");
  auto without = connect(*context(trusting(ca)), "orders.internal", server, nullptr, &client_ca);
  EXPECT_FALSE(without.ok);

  auto c = trusting(ca);
  c.cert_file = "/test/gw.pem";
  c.cert_pem = gw.cert_pem();
  c.key_file = "/test/gw.key";
  c.key_pem = config::Secret(gw.key_pem());
  auto with = connect(*context(c), "orders.internal", server, nullptr, &client_ca);
  EXPECT_TRUE(with.ok) << with.client_error;
  EXPECT_TRUE(with.client_cert_seen);
}

TEST_F(ClientContextTest, ResumesTheSessionInTheSlot) {
  auto ctx = context(trusting(ca));
  auto slot = std::make_shared<SessionSlot>();
  Server s(server);
  for (int i = 0; i < 3; ++i) {
    std::string error;
    SSL* ssl = ctx->new_connection("orders.internal", slot, error);
    ASSERT_NE(ssl, nullptr) << error;
    auto o = s.connect(ssl);
    ASSERT_TRUE(o.ok) << o.client_error;
    EXPECT_EQ(o.reused, i > 0) << "connection " << i;
    EXPECT_NE(slot->get(), nullptr);
  }
  // Without a slot nothing is offered.
  std::string error;
  auto o = s.connect(ctx->new_connection("orders.internal", nullptr, error));
  EXPECT_TRUE(o.ok);
  EXPECT_FALSE(o.reused);
}

TEST_F(ClientContextTest, RefusesUnusableSettings) {
  std::string error;
  config::TlsClientConfig c;
  c.ca_file = "/test/ca.pem";
  c.ca_pem = "not a certificate";
  EXPECT_FALSE(ClientContext::create(c, error));
  EXPECT_NE(error.find("ca_file /test/ca.pem"), std::string::npos) << error;

  KeyPair gw = make_cert("gateway", &ca, nullptr);
  KeyPair other = make_cert("other", &ca, nullptr);
  c = trusting(ca);
  c.cert_file = "/test/gw.pem";
  c.cert_pem = gw.cert_pem();
  c.key_file = "/test/other.key";
  c.key_pem = config::Secret(other.key_pem());
  EXPECT_FALSE(ClientContext::create(c, error));
  EXPECT_NE(error.find("is not the key of client_cert_file"), std::string::npos) << error;
}

TEST_F(ClientContextTest, IdsAreUnique) {
  auto a = context(trusting(ca));
  auto b = context(trusting(ca));
  EXPECT_NE(a->id(), b->id());
}

}  // namespace
}  // namespace portcullis::tls
