#include "auth/client_cert/client_cert_authenticator.h"

#include "identity/identity.h"

namespace portcullis::auth::client_cert {

namespace {

namespace describe {
inline constexpr std::string_view kUnusableName =
    "the client certificate's name cannot be forwarded (control characters)";
inline constexpr std::string_view kExpired = "the client certificate has expired";
inline constexpr std::string_view kNotYetValid = "the client certificate is not valid yet";
}  // namespace describe

// Expired and not-yet-valid are told apart (their holder can act on them); every other
// failure has the status's own description.
std::string unverified_description(VerifyFailure f) {
  switch (f) {
    case VerifyFailure::Expired:
      return std::string(describe::kExpired);
    case VerifyFailure::NotYetValid:
      return std::string(describe::kNotYetValid);
    case VerifyFailure::None:
    case VerifyFailure::Other:
      break;
  }
  return {};
}

}  // namespace

std::string client_id_of(const ClientCertificate& cert,
                         const std::vector<config::CertIdentitySource>& sources) {
  for (const auto source : sources) {
    switch (source) {
      case config::CertIdentitySource::SanUri:
        if (!cert.san_uris.empty() && !cert.san_uris.front().empty()) return cert.san_uris.front();
        break;
      case config::CertIdentitySource::SanDns:
        if (!cert.san_dns.empty() && !cert.san_dns.front().empty()) return cert.san_dns.front();
        break;
      case config::CertIdentitySource::SubjectCn:
        if (!cert.subject_cn.empty()) return cert.subject_cn;
        break;
    }
  }
  return {};
}

ClientCertAuthenticator::ClientCertAuthenticator(
    std::vector<config::CertIdentitySource> client_id_from, bool only_method)
    : client_id_from_(std::move(client_id_from)), only_method_(only_method) {}

void ClientCertAuthenticator::authenticate(const AuthRequest& request, AuthCallback done) {
  const ClientCertificate* cert = request.client_cert;
  if (cert == nullptr) {
    done(AuthResult::fail(only_method_ ? Status::ClientCertificateMissing : Status::NoCredential));
    return;
  }
  if (!cert->verified) {
    done(AuthResult::fail(Status::ClientCertificateUnverified,
                          unverified_description(cert->failure)));
    return;
  }
  identity::Identity id;
  id.client_id = client_id_of(*cert, client_id_from_);
  if (id.client_id.empty()) {
    done(AuthResult::fail(Status::ClientCertificateNoIdentity));
    return;
  }
  if (identity::has_control(id.client_id)) {
    done(AuthResult::fail(Status::ClientCertificateNoIdentity,
                          std::string(describe::kUnusableName)));
    return;
  }
  id.auth_method = "client-cert";
  id.credential_id = cert->sha256.substr(0, 12);
  id.cert_thumbprint = cert->sha256;
  done(AuthResult::ok(std::move(id)));
}

}  // namespace portcullis::auth::client_cert
