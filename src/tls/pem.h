// PEM in memory -> OpenSSL objects, for the listener's contexts (tls/server_context.cc) and
// their checks (tls/listener_check.cc). Errors name what is wrong, never a key's bytes.
#pragma once

#include <openssl/evp.h>
#include <openssl/ssl.h>
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
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// Every certificate in a PEM text, in order (a leaf and its chain, or a CA bundle). Empty
// with `error` set when there is none or one is broken.
std::vector<X509Ptr> read_certificates(std::string_view pem, std::string& error);
// The one private key in a PEM text (PKCS#8, or the traditional RSA/EC forms). Encrypted
// keys are refused (nothing could type the passphrase); no prompt is ever shown.
PkeyPtr read_private_key(std::string_view pem, std::string& error);
// The oldest OpenSSL error queued on this thread, as text, and the queue cleared.
std::string last_openssl_error();

// When the certificate stops being valid, as seconds since the epoch (false: unreadable).
bool not_after(const X509* cert, std::time_t& out);
// "2025-03-01 12:00:00 UTC".
std::string format_utc(std::time_t t);

// The subjectAltName dNSName entries of a certificate, lower-cased, in order.
std::vector<std::string> dns_names(const X509* cert);

}  // namespace portcullis::tls
