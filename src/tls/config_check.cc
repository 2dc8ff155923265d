// The TLS client settings judged with OpenSSL (see config_check.h).
#include "tls/config_check.h"

#include <ctime>

#include "tls/pem.h"

namespace portcullis::tls {
namespace {

constexpr std::time_t kExpiryWarning = 14 * 24 * 3600;

void check_expiry(X509* cert, const config::TlsClientConfig& tls, const std::string& where,
                  config::Diagnostics& out) {
  const std::time_t end = not_after(cert);
  const std::time_t now = std::time(nullptr);
  if (end == 0) return;
  const std::string subject = where + ": client_cert_file " + tls.cert_file;
  if (end < now) {
    out.warning(tls.cert_mark,
                subject + " expired on " + not_after_text(cert) + ": the server will refuse it");
  } else if (end - now < kExpiryWarning) {
    out.warning(tls.cert_mark, subject + " expires on " + not_after_text(cert));
  }
}

}  // namespace

void check_client_config(const config::TlsClientConfig& tls, const std::string& where,
                         config::Diagnostics& out) {
  std::string error;
  std::vector<X509Ptr> certs;
  if (!tls.ca_pem.empty() && !read_certificates(tls.ca_pem, certs, error)) {
    out.error(tls.ca_mark, where + ": ca_file " + tls.ca_file + ": " + error);
  }
  if (tls.cert_pem.empty()) return;
  const bool cert_ok = read_certificates(tls.cert_pem, certs, error);
  if (!cert_ok)
    out.error(tls.cert_mark, where + ": client_cert_file " + tls.cert_file + ": " + error);
  PkeyPtr key;
  if (!read_private_key(tls.key_pem.reveal(), key, error)) {
    out.error(tls.key_mark, where + ": client_key_file " + tls.key_file + ": " + error);
    return;
  }
  if (!cert_ok) return;
  if (!key_matches(certs.front().get(), key.get())) {
    out.error(tls.key_mark, where + ": client_key_file " + tls.key_file +
                                " is not the key of client_cert_file " + tls.cert_file);
    return;
  }
  check_expiry(certs.front().get(), tls, where, out);
}

void check_client_configs(const config::Config& config, config::Diagnostics& out) {
  for (const auto& [name, u] : config.upstreams) {
    if (u.https()) check_client_config(u.tls, "upstream '" + name + "'", out);
  }
  for (const auto& [name, p] : config.jwt_providers) {
    check_client_config(p.tls, "jwt provider '" + name + "'", out);
  }
  for (const auto& [name, p] : config.oauth2_providers) {
    check_client_config(p.tls, "oauth2 provider '" + name + "'", out);
  }
}

}  // namespace portcullis::tls
