// Certificates and private keys from PEM text, through OpenSSL (no parsing here): what the
// config check judges and what the TLS contexts are built from. Included by src/tls/ only
// (and by the TLS listener later): OpenSSL headers stay out of widely included headers.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <ctime>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::tls {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

// Every certificate in `pem`, in order. False with `error` set when there is none, or when
// a block cannot be read ("no certificate in it", OpenSSL's reason otherwise).
bool read_certificates(std::string_view pem, std::vector<X509Ptr>& out, std::string& error);

// The private key in `pem` (PKCS#8, or the traditional RSA/EC forms). An encrypted key is
// refused (there is nobody to type its passphrase). The error never quotes the key.
bool read_private_key(std::string_view pem, PkeyPtr& out, std::string& error);

// Whether `key` is the private half of `cert`'s public key.
bool key_matches(X509* cert, EVP_PKEY* key);

// The certificate's notAfter as a Unix time (0 when it cannot be read), and as text.
std::time_t not_after(const X509* cert);
std::string not_after_text(const X509* cert);

// The OpenSSL error queue's last reason, cleared ("unknown error" when empty).
std::string last_openssl_error();

}  // namespace portcullis::tls
