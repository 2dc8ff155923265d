// RFC 8705 certificate binding: reading cnf["x5t#S256"], and the three distinct refusals.
#include "auth/cert_binding.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

namespace portcullis::auth {
namespace {

boost::json::object claims(const char* text) {
  return boost::json::parse(text).as_object();
}

ClientCertificate cert(const char* sha256) {
  ClientCertificate c;
  c.verified = true;
  c.sha256 = sha256;
  return c;
}

TEST(CertBinding, ReadsTheThumbprintFromCnf) {
  EXPECT_EQ(cnf_thumbprint(claims(R"({"cnf":{"x5t#S256":"abc_-"}})")), "abc_-");
  EXPECT_EQ(cnf_thumbprint(claims(R"({"sub":"x"})")), std::nullopt);
  EXPECT_EQ(cnf_thumbprint(claims(R"({"cnf":"abc"})")), std::nullopt);
  EXPECT_EQ(cnf_thumbprint(claims(R"({"cnf":{"jkt":"abc"}})")), std::nullopt);
  EXPECT_EQ(cnf_thumbprint(claims(R"({"cnf":{"x5t#S256":42}})")), std::nullopt);
  EXPECT_EQ(cnf_thumbprint(claims(R"({"cnf":{"x5t#S256":""}})")), std::nullopt);
}

TEST(CertBinding, EachWayToFailHasItsOwnStatus) {
  const ClientCertificate c = cert("Tp7VZ4Dw3bfwisetOQHtjhIDh5JjdfJD56IPY1sBjS8");
  EXPECT_EQ(check_cert_binding("Tp7VZ4Dw3bfwisetOQHtjhIDh5JjdfJD56IPY1sBjS8", &c), Status::Ok);
  EXPECT_EQ(check_cert_binding("", &c), Status::CertBindingMissing);
  EXPECT_EQ(check_cert_binding("", nullptr), Status::CertBindingMissing);
  EXPECT_EQ(check_cert_binding("Tp7VZ4Dw3bfwisetOQHtjhIDh5JjdfJD56IPY1sBjS8", nullptr),
            Status::CertBindingNoCertificate);
  EXPECT_EQ(check_cert_binding("Tp7VZ4Dw3bfwisetOQHtjhIDh5JjdfJD56IPY1sBjS9", &c),
            Status::CertBindingMismatch);
  EXPECT_EQ(check_cert_binding("Tp7VZ4", &c), Status::CertBindingMismatch);
  for (Status s : {Status::CertBindingMissing, Status::CertBindingNoCertificate,
                   Status::CertBindingMismatch}) {
    EXPECT_EQ(http_status(s), 401u);
    EXPECT_EQ(error_code(s), "invalid_token");
  }
}

TEST(CertBinding, EnforceTurnsAnUnboundOkIntoARefusalAndMarksABoundOne) {
  const ClientCertificate c = cert("thumb");
  identity::Identity id;
  id.auth_method = "jwt";
  id.cert_binding = "thumb";
  AuthResult ok = AuthResult::ok(id);
  enforce_cert_binding(ok, &c);
  ASSERT_EQ(ok.status, Status::Ok);
  EXPECT_EQ(ok.identity.cert_thumbprint, "thumb");

  AuthResult other = AuthResult::ok(id);
  const ClientCertificate c2 = cert("other");
  enforce_cert_binding(other, &c2);
  EXPECT_EQ(other.status, Status::CertBindingMismatch);
  // Named in the access log, as a genuine token refused; never given the thumbprint.
  EXPECT_EQ(other.identity.auth_method, "jwt");
  EXPECT_TRUE(other.identity.cert_thumbprint.empty());

  AuthResult refused = AuthResult::fail(Status::ExpiredCredential);
  enforce_cert_binding(refused, &c);
  EXPECT_EQ(refused.status, Status::ExpiredCredential);
}

// A memo hit names the memo's identity without copying it; binding it to this connection's
// certificate works on a copy, so the memo (shared by the connection's later requests) keeps
// no thumbprint and no refusal of one request changes it.
TEST(CertBinding, EnforceOnAMemoHitChangesACopyNotTheMemo) {
  CredentialMemo memo;
  identity::Identity alice;
  alice.auth_method = "jwt";
  alice.subject = "alice";
  alice.cert_binding = "thumb";
  memo.set_identity(alice);
  AuthResult hit = AuthResult::ok_memo(memo);
  EXPECT_EQ(&hit.who(), &memo.identity()) << "not copied";

  const ClientCertificate c = cert("thumb");
  enforce_cert_binding(hit, &c);
  ASSERT_EQ(hit.status, Status::Ok);
  EXPECT_NE(&hit.who(), &memo.identity());
  EXPECT_EQ(hit.who().subject, "alice");
  EXPECT_EQ(hit.who().cert_thumbprint, "thumb");
  EXPECT_TRUE(memo.identity().cert_thumbprint.empty());

  AuthResult stolen = AuthResult::ok_memo(memo);
  const ClientCertificate c2 = cert("other");
  enforce_cert_binding(stolen, &c2);
  EXPECT_EQ(stolen.status, Status::CertBindingMismatch);
  EXPECT_EQ(stolen.who().subject, "alice");  // named in the access log
  EXPECT_EQ(memo.identity().subject, "alice");
  EXPECT_EQ(memo.identity().auth_method, "jwt");
}

TEST(ClientCertificateStatus, MissingCarriesNoErrorCodeButADistinctReason) {
  EXPECT_EQ(http_status(Status::ClientCertificateMissing), 401u);
  EXPECT_EQ(body_error(Status::ClientCertificateMissing), "unauthorized");
  EXPECT_EQ(reason(Status::ClientCertificateMissing), "client_certificate_missing");
  EXPECT_EQ(challenge(Status::ClientCertificateMissing, "ClientCert", "d", "",
                      "ClientCert realm=\"portcullis\""),
            "ClientCert realm=\"portcullis\"");
  EXPECT_EQ(reason(Status::ClientCertificateUnverified), "client_certificate_unverified");
  EXPECT_EQ(challenge(Status::ClientCertificateUnverified, "ClientCert", "d", "", "x"),
            "ClientCert realm=\"portcullis\", error=\"invalid_certificate\", "
            "error_description=\"d\"");
}

TEST(ClientCertificateStatus, AChallengesDescriptionKeepsOnlyWhatAQuotedStringMayHold) {
  // RFC 6750 §3: no '"', '\\', control or non-ASCII byte in error_description.
  EXPECT_EQ(challenge(Status::ClientCertificateUnverified, "ClientCert",
                      "a \"quoted\" \\ line\r\nX-Injected: 1\x7f\xc3\xa9 end", "", "x"),
            "ClientCert realm=\"portcullis\", error=\"invalid_certificate\", "
            "error_description=\"a quoted  lineX-Injected: 1 end\"");
}

}  // namespace
}  // namespace portcullis::auth
