// The gateway's TLS settings as a client: towards an https:// upstream (`upstreams`) and
// towards identity providers (`jwt_providers`, `oauth2_providers`). Read by
// config/tls_section.cc, which reads the files at load (so that a reload sees them as they are
// then) and checks shapes only; the PEM contents are judged with OpenSSL by
// tls/config_check.h at the marks kept here. Included from config.h.
#pragma once

#include <string>

#include "config/mark.h"
#include "config/secret.h"

namespace portcullis::config {

struct TlsClientConfig {
  // Certificates are verified unless `tls_verify: false` (warned about by check and at
  // start): against ca_file when set, else the system's trust store.
  bool verify = true;
  std::string ca_file;  // absolute; empty: the system's trust store
  std::string ca_pem;   // its content, read at load
  // Upstreams only: the name the certificate must carry and that is sent as SNI; empty: the
  // URL's host (no SNI for an IP address, whose certificate needs an IP SAN).
  std::string server_name;
  // A client certificate for mutual TLS (upstreams only): both files or neither.
  std::string cert_file;  // absolute; the leaf first, then any intermediates
  std::string cert_pem;
  std::string key_file;  // absolute
  Secret key_pem;        // never logged

  // Where each setting is written, for the checks made with OpenSSL.
  Mark ca_mark;
  Mark cert_mark;
  Mark key_mark;

  // Equal settings; positions compare too (same_settings() ignores them).
  friend bool operator==(const TlsClientConfig&, const TlsClientConfig&) = default;
  bool same_settings(const TlsClientConfig& other) const {
    TlsClientConfig c = other;
    c.ca_mark = ca_mark;
    c.cert_mark = cert_mark;
    c.key_mark = key_mark;
    return c == *this;
  }
};

}  // namespace portcullis::config
