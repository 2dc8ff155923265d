// Certificates for the tls unit tests, made in memory with OpenSSL's API at test time (the
// integration tests make theirs with the openssl CLI: tests/integration/certs.py). ECDSA P-256.
#pragma once

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>
#include <string>

namespace portcullis::tls::testing {

struct KeyPair {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  KeyPair() = default;
  KeyPair(const KeyPair&) = delete;
  KeyPair& operator=(const KeyPair&) = delete;
  KeyPair(KeyPair&& o) noexcept : key(o.key), cert(o.cert) { o.key = nullptr, o.cert = nullptr; }
  ~KeyPair() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
  std::string cert_pem() const {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, cert);
    return drain(b);
  }
  std::string key_pem() const {
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    return drain(b);
  }
  static std::string drain(BIO* b) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(b, &data);
    std::string s(data, static_cast<std::size_t>(n));
    BIO_free(b);
    return s;
  }
};

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) throw std::runtime_error("bad extension");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn`, valid from `from_days` to `to_days` around now, signed by `issuer`
// (self-signed when null). `san` like "DNS:localhost,IP:127.0.0.1"; `ca` makes it a CA.
inline KeyPair make_cert(const char* cn, const KeyPair* issuer, const char* san, bool ca = false,
                         long from_days = -1, long to_days = 30) {
  static long serial = 1;
  KeyPair kp;
  kp.key = EVP_EC_gen("P-256");
  kp.cert = X509_new();
  X509_set_version(kp.cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(kp.cert), ++serial);
  X509_gmtime_adj(X509_getm_notBefore(kp.cert), from_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(kp.cert), to_days * 86400);
  X509_set_pubkey(kp.cert, kp.key);
  X509_NAME* name = X509_get_subject_name(kp.cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509* signer = issuer ? issuer->cert : kp.cert;
  X509_set_issuer_name(kp.cert, X509_get_subject_name(signer));
  if (ca) {
    add_ext(kp.cert, signer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(kp.cert, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(kp.cert, signer, NID_basic_constraints, "critical,CA:FALSE");
  }
  if (san != nullptr) add_ext(kp.cert, signer, NID_subject_alt_name, san);
  X509_sign(kp.cert, issuer ? issuer->key : kp.key, EVP_sha256());
  return kp;
}

inline KeyPair make_ca(const char* cn) {
  return make_cert(cn, nullptr, nullptr, true, -1, 3650);
}

}  // namespace portcullis::tls::testing
