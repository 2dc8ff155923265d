#include "tls/pem.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdio>

namespace portcullis::tls {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

BioPtr memory_bio(std::string_view pem) {
  return BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The passphrase callback: there is no one to ask, so an encrypted key fails to load.
int no_passphrase(char*, int, int, void*) {
  return -1;
}

// True when the error queue's last entry says "no more PEM blocks" (the normal end).
bool only_end_of_input() {
  const unsigned long e = ERR_peek_last_error();
  return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

}  // namespace

std::string last_openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  const char* reason = ERR_reason_error_string(e);
  return reason != nullptr ? reason : "error " + std::to_string(e);
}

std::vector<X509Ptr> read_certificates(std::string_view pem, std::string& error) {
  std::vector<X509Ptr> out;
  BioPtr bio = memory_bio(pem);
  if (!bio) {
    error = "out of memory";
    return out;
  }
  ERR_clear_error();
  for (;;) {
    // The first may carry trust settings (PEM "TRUSTED CERTIFICATE"); the rest are plain.
    X509* x = out.empty() ? PEM_read_bio_X509_AUX(bio.get(), nullptr, no_passphrase, nullptr)
                          : PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr);
    if (x == nullptr) break;
    out.emplace_back(x);
  }
  if (out.empty()) {
    ERR_clear_error();
    error = "no PEM certificate in it";
    return out;
  }
  if (!only_end_of_input()) {
    error = "a certificate in it cannot be read: " + last_openssl_error();
    out.clear();
    return out;
  }
  ERR_clear_error();
  return out;
}

PkeyPtr read_private_key(std::string_view pem, std::string& error) {
  BioPtr bio = memory_bio(pem);
  ERR_clear_error();
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  if (key) {
    ERR_clear_error();
    return key;
  }
  const bool encrypted = pem.find("ENCRYPTED") != std::string_view::npos;
  ERR_clear_error();
  error = encrypted ? "the private key is encrypted (give it without a passphrase)"
                    : "no PEM private key in it";
  return nullptr;
}

bool not_after(const X509* cert, std::time_t& out) {
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  out = timegm(&tm);
  return true;
}

std::string format_utc(std::time_t t) {
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

std::vector<std::string> dns_names(const X509* cert) {
  std::vector<std::string> out;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names, i);
    if (n->type != GEN_DNS) continue;
    const ASN1_STRING* s = n->d.dNSName;
    std::string name(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    out.push_back(std::move(name));
  }
  GENERAL_NAMES_free(names);
  return out;
}

}  // namespace portcullis::tls
