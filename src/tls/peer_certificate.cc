#include "tls/peer_certificate.h"

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "jose/base64url.h"

namespace portcullis::tls {
namespace {

std::string text_of(const ASN1_STRING* s) {
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

void read_alt_names(X509* cert, auth::ClientCertificate& out) {
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type == GEN_URI) out.san_uris.push_back(text_of(n->d.uniformResourceIdentifier));
    if (n->type == GEN_DNS) out.san_dns.push_back(text_of(n->d.dNSName));
  }
  GENERAL_NAMES_free(names);
}

// The last commonName of the subject (the most specific one when there are several).
std::string common_name(X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return {};
  int last = -1;
  for (int i = X509_NAME_get_index_by_NID(subject, NID_commonName, -1); i >= 0;
       i = X509_NAME_get_index_by_NID(subject, NID_commonName, i)) {
    last = i;
  }
  if (last < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, last));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0 || utf8 == nullptr) return {};
  std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return cn;
}

}  // namespace

std::vector<std::string> dns_names(const X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_DNS) continue;
    std::string name = text_of(n->d.dNSName);
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    out.push_back(std::move(name));
  }
  GENERAL_NAMES_free(names);
  return out;
}

namespace {

// The connection's recorded failure kind, as an auth::VerifyFailure value in ex_data.
int failure_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// What verify_and_continue stored on the connection (None: nothing).
auth::VerifyFailure stored_failure(SSL* ssl) {
  return static_cast<auth::VerifyFailure>(
      reinterpret_cast<std::uintptr_t>(SSL_get_ex_data(ssl, failure_index())));
}

// Only a lone validity-period failure is told apart; anything else, or nothing recorded (a
// resumed session), is Other.
auth::VerifyFailure recorded_failure(SSL* ssl) {
  const auth::VerifyFailure kind = stored_failure(ssl);
  return kind == auth::VerifyFailure::Expired || kind == auth::VerifyFailure::NotYetValid
             ? kind
             : auth::VerifyFailure::Other;
}

}  // namespace

int verify_and_continue(int ok, X509_STORE_CTX* store) {
  if (ok == 1) return 1;
  auto* ssl =
      static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl == nullptr) return 1;
  const int error = X509_STORE_CTX_get_error(store);
  const bool leaf = X509_STORE_CTX_get_error_depth(store) == 0;
  auth::VerifyFailure kind = auth::VerifyFailure::Other;
  if (leaf && error == X509_V_ERR_CERT_HAS_EXPIRED) kind = auth::VerifyFailure::Expired;
  if (leaf && error == X509_V_ERR_CERT_NOT_YET_VALID) kind = auth::VerifyFailure::NotYetValid;
  const auth::VerifyFailure seen = stored_failure(ssl);
  // One kind of failure and only that one is told; any mix is Other.
  if (seen != auth::VerifyFailure::None && seen != kind) kind = auth::VerifyFailure::Other;
  SSL_set_ex_data(ssl, failure_index(), reinterpret_cast<void*>(static_cast<std::uintptr_t>(kind)));
  return 1;
}

auth::ClientCertificate describe_certificate(X509* cert) {
  auth::ClientCertificate out;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) == 1) {
    out.sha256 = jose::base64url_encode(std::string_view(reinterpret_cast<const char*>(md), len));
  }
  read_alt_names(cert, out);
  out.subject_cn = common_name(cert);
  return out;
}

std::unique_ptr<const auth::ClientCertificate> peer_certificate(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return nullptr;
  auto out = std::make_unique<auth::ClientCertificate>(describe_certificate(cert));
  const long result = SSL_get_verify_result(ssl);
  out->verified = result == X509_V_OK;
  if (!out->verified) {
    out->verify_error = X509_verify_cert_error_string(result);
    out->failure = recorded_failure(ssl);
  }
  return out;
}

}  // namespace portcullis::tls
