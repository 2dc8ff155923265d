// The client_cert mechanism: identity from the certificate in client_id_from order, and the
// distinct refusals (missing, unverified, no usable name).
#include <gtest/gtest.h>

#include "auth/client_cert/client_cert_authenticator.h"

namespace portcullis::auth::client_cert {
namespace {

using config::CertIdentitySource;
const std::vector<CertIdentitySource> kDefault{
    CertIdentitySource::SanUri, CertIdentitySource::SanDns, CertIdentitySource::SubjectCn};

ClientCertificate full() {
  ClientCertificate c;
  c.verified = true;
  c.sha256 = "Tp7VZ4Dw3bfwisetOQHtjhIDh5JjdfJD56IPY1sBjS8";
  c.san_uris = {"spiffe://test/svc", "spiffe://test/other"};
  c.san_dns = {"svc.test"};
  c.subject_cn = "svc-cn";
  return c;
}

AuthResult run(ClientCertAuthenticator& a, const ClientCertificate* cert) {
  boost::beast::http::fields h;
  config::RouteConfig route;
  AuthRequest req{h, "GET", "/", "/", "127.0.0.1", "r", route, nullptr, cert};
  AuthResult out;
  a.authenticate(req, [&](AuthResult&& r) { out = std::move(r); });
  return out;
}

TEST(ClientCertAuthenticator, VerifiedCertificateGivesItsIdentity) {
  ClientCertAuthenticator a(kDefault, true);
  const ClientCertificate c = full();
  AuthResult r = run(a, &c);
  ASSERT_EQ(r.status, Status::Ok);
  EXPECT_EQ(r.identity.client_id, "spiffe://test/svc");
  EXPECT_EQ(r.identity.auth_method, "client-cert");
  EXPECT_EQ(r.identity.cert_thumbprint, c.sha256);
  EXPECT_EQ(r.identity.credential_id, "Tp7VZ4Dw3bfw");
  EXPECT_TRUE(r.identity.subject.empty());
}

TEST(ClientCertAuthenticator, TheFirstSourcePresentWins) {
  ClientCertificate c = full();
  EXPECT_EQ(client_id_of(c, {CertIdentitySource::SubjectCn, CertIdentitySource::SanUri}), "svc-cn");
  EXPECT_EQ(client_id_of(c, {CertIdentitySource::SanDns}), "svc.test");
  c.san_uris.clear();
  EXPECT_EQ(client_id_of(c, kDefault), "svc.test");
  c.san_dns.clear();
  EXPECT_EQ(client_id_of(c, kDefault), "svc-cn");
  c.subject_cn.clear();
  EXPECT_EQ(client_id_of(c, kDefault), "");
}

TEST(ClientCertAuthenticator, MissingCertificate) {
  ClientCertAuthenticator only(kDefault, true);
  EXPECT_EQ(run(only, nullptr).status, Status::ClientCertificateMissing);
  // With other methods on the route: not mine, the chain goes on.
  ClientCertAuthenticator shared(kDefault, false);
  EXPECT_EQ(run(shared, nullptr).status, Status::NoCredential);
}

TEST(ClientCertAuthenticator, UnverifiedCertificateIsRefusedWhateverTheRoute) {
  ClientCertificate c = full();
  c.verified = false;
  c.verify_error = "unable to get local issuer certificate";
  c.failure = VerifyFailure::Other;
  ClientCertAuthenticator shared(kDefault, false);
  const AuthResult r = run(shared, &c);
  EXPECT_EQ(r.status, Status::ClientCertificateUnverified);
  EXPECT_EQ(r.description, "");  // the status's own: does not verify against the trusted CAs
}

TEST(ClientCertAuthenticator, AnExpiredOrNotYetValidCertificateIsSaidSo) {
  ClientCertificate c = full();
  c.verified = false;
  ClientCertAuthenticator a(kDefault, true);
  c.failure = VerifyFailure::Expired;
  AuthResult r = run(a, &c);
  EXPECT_EQ(r.status, Status::ClientCertificateUnverified);
  EXPECT_EQ(r.description, "the client certificate has expired");
  c.failure = VerifyFailure::NotYetValid;
  r = run(a, &c);
  EXPECT_EQ(r.status, Status::ClientCertificateUnverified);
  EXPECT_EQ(r.description, "the client certificate is not valid yet");
}

TEST(ClientCertAuthenticator, NoUsableName) {
  ClientCertificate c = full();
  c.san_uris.clear();
  c.san_dns.clear();
  c.subject_cn.clear();
  ClientCertAuthenticator a(kDefault, true);
  EXPECT_EQ(run(a, &c).status, Status::ClientCertificateNoIdentity);
  c.san_uris = {"spiffe://x\r\nX-User-Id: admin"};
  EXPECT_EQ(run(a, &c).status, Status::ClientCertificateNoIdentity);
}

}  // namespace
}  // namespace portcullis::auth::client_cert
