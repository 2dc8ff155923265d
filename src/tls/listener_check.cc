#include "tls/listener_check.h"

#include <openssl/x509.h>

#include "tls/peer_certificate.h"
#include "tls/pem.h"
#include "tls/server_context.h"

namespace portcullis::tls {
namespace {

void check_validity(const config::ServerCertificate& c, const X509* leaf, config::Diagnostics& out,
                    std::time_t now) {
  const std::time_t until = not_after(leaf);
  if (until == 0) return;
  const std::string what = "cert_file " + c.cert_file;
  if (until <= now) {
    out.warning(c.cert_mark,
                what + " has expired (" + not_after_text(leaf) + "): clients will refuse it");
  } else if (until - now <= kExpiryWarning) {
    const long days = static_cast<long>((until - now) / (24 * 3600));
    out.warning(c.cert_mark, what + " expires on " + not_after_text(leaf) + " (in " +
                                 std::to_string(days) + (days == 1 ? " day" : " days") +
                                 "): renew it and reload");
  }
  if (X509_cmp_time(X509_get0_notBefore(leaf), &now) > 0) {
    out.warning(c.cert_mark, what + " is not valid yet: clients will refuse it");
  }
}

// True when the certificate's own files are usable (so building the contexts can be tried).
bool check_certificate(const config::ServerCertificate& c, std::size_t index,
                       config::Diagnostics& out, std::time_t now) {
  std::string why;
  std::vector<X509Ptr> chain;
  PkeyPtr key;
  const bool have_chain = read_certificates(c.cert_pem, chain, why);
  if (!have_chain) out.error(c.cert_mark, "cert_file " + c.cert_file + ": " + why);
  const bool have_key = read_private_key(c.key_pem.reveal(), key, why);
  if (!have_key) out.error(c.key_mark, "key_file " + c.key_file + ": " + why);
  if (!have_chain || !have_key) return false;
  if (!key_matches(chain[0].get(), key.get())) {
    out.error(c.key_mark, "key_file " + c.key_file + " does not match cert_file " + c.cert_file +
                              " (the certificate's public key is not this key's)");
    return false;
  }
  check_validity(c, chain[0].get(), out, now);
  if (index > 0 && c.server_names.empty() && dns_names(chain[0].get()).empty()) {
    out.warning(c.mark,
                "this certificate has no server_names and names no DNS name: no client "
                "can reach it (only the first certificate answers unknown names)");
  }
  return true;
}

}  // namespace

void check_listener_tls(const config::Config& config, config::Diagnostics& out, std::time_t now) {
  if (!config.server.tls) return;
  const auto& tls = *config.server.tls;
  bool usable = true;
  for (std::size_t i = 0; i < tls.certificates.size(); ++i) {
    usable &= check_certificate(tls.certificates[i], i, out, now);
  }
  if (!tls.client_ca_pem.empty()) {
    std::string why;
    std::vector<X509Ptr> cas;
    if (!read_certificates(tls.client_ca_pem, cas, why)) {
      out.error(tls.client_ca_mark, "client_ca_file " + tls.client_ca_file + ": " + why);
      usable = false;
    }
  }
  if (!usable) return;
  // Whatever else OpenSSL refuses (a key too weak for its security level, say).
  std::string error;
  if (!ServerTls::create(tls, error)) out.error(tls.mark, "server.tls: " + error);
}

}  // namespace portcullis::tls
