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

}  // namespace
}  // namespace portcullis::auth
