#include "auth/cert_binding.h"

#include <openssl/crypto.h>

namespace portcullis::auth {

std::optional<std::string> cnf_thumbprint(const boost::json::object& claims) {
  const auto* cnf = claims.if_contains("cnf");
  if (cnf == nullptr || !cnf->is_object()) return std::nullopt;
  const auto* x5t = cnf->get_object().if_contains("x5t#S256");
  if (x5t == nullptr || !x5t->is_string() || x5t->get_string().empty()) return std::nullopt;
  return std::string(x5t->get_string());
}

Status check_cert_binding(std::string_view bound, const ClientCertificate* cert) {
  if (bound.empty()) return Status::CertBindingMissing;
  if (cert == nullptr || cert->sha256.empty()) return Status::CertBindingNoCertificate;
  // Thumbprints are public, but comparing in constant time costs nothing here.
  if (bound.size() != cert->sha256.size() ||
      CRYPTO_memcmp(bound.data(), cert->sha256.data(), bound.size()) != 0) {
    return Status::CertBindingMismatch;
  }
  return Status::Ok;
}

void enforce_cert_binding(AuthResult& result, const ClientCertificate* cert) {
  if (result.status != Status::Ok) return;
  identity::Identity& id = result.own_identity();  // changed either way
  const Status s = check_cert_binding(id.cert_binding, cert);
  if (s != Status::Ok) {
    // The token proved genuine: the refusal names it in the access log (never upstream).
    identity::Identity who = std::move(id);
    result = AuthResult::fail(s, {}, std::move(result.challenge));
    result.identity = std::move(who);
    return;
  }
  id.cert_thumbprint = cert->sha256;
}

}  // namespace portcullis::auth
