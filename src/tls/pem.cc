// PEM reading with OpenSSL's own readers (see pem.h).
#include "tls/pem.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <climits>

namespace portcullis::tls {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(std::string_view pem) {
  if (pem.size() > static_cast<std::size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Refuses any passphrase request: OpenSSL would otherwise prompt on the terminal.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

bool queue_says_end_of_pem() {
  const unsigned long e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

}  // namespace

std::string last_openssl_error() {
  const unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "error " + std::to_string(e);
}

bool read_certificates(std::string_view pem, std::vector<X509Ptr>& out, std::string& error) {
  out.clear();
  ERR_clear_error();
  BioPtr bio = memory_bio(pem);
  if (!bio) {
    error = "cannot be read";
    return false;
  }
  for (;;) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!cert) break;
    out.push_back(std::move(cert));
  }
  // The loop ends at the end of the text (no further BEGIN line) or at a broken block.
  if (!queue_says_end_of_pem()) {
    error = "not a PEM certificate: " + last_openssl_error();
    return false;
  }
  ERR_clear_error();
  if (out.empty()) {
    error = "no PEM certificate in it";
    return false;
  }
  return true;
}

bool read_private_key(std::string_view pem, PkeyPtr& out, std::string& error) {
  ERR_clear_error();
  if (pem.find("ENCRYPTED") != std::string_view::npos) {
    error = "the key is encrypted; give the gateway an unencrypted key (readable by it only)";
    return false;
  }
  BioPtr bio = memory_bio(pem);
  if (bio) out.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (!bio || !out) {
    error = queue_says_end_of_pem() ? "no PEM private key in it"
                                    : "not a PEM private key: " + last_openssl_error();
    ERR_clear_error();
    return false;
  }
  return true;
}

bool key_matches(X509* cert, EVP_PKEY* key) {
  const bool ok = X509_check_private_key(cert, key) == 1;
  ERR_clear_error();
  return ok;
}

std::time_t not_after(const X509* cert) {
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return timegm(&tm);
}

std::string not_after_text(const X509* cert) {
  const std::time_t t = not_after(cert);
  struct tm tm {};
  if (t == 0 || gmtime_r(&t, &tm) == nullptr) return "an unreadable date";
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace portcullis::tls
