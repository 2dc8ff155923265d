// TLS on the gateway's own listener (`server.tls`) and client certificates as an identity
// (the top-level `client_cert` section). Read by config/listener_tls_section.cc, which reads
// the files at load (so that a reload sees them as they are then) and checks shapes only; the
// PEM contents are judged with OpenSSL by tls/listener_check.h at the marks kept here.
// Included from config.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config/mark.h"
#include "config/secret.h"

namespace portcullis::config {

// One certificate the listener can present: the leaf first in cert_file, then any
// intermediates (sent whole), and its private key.
struct ServerCertificate {
  std::string cert_file;  // absolute
  std::string cert_pem;   // its content, read at load
  std::string key_file;   // absolute
  Secret key_pem;         // its content; never logged
  // The SNI names this certificate answers (lower case; "*.example.com" covers one label).
  // Empty: the DNS names in the certificate itself.
  std::vector<std::string> server_names;
  Mark mark;  // the list item
  Mark cert_mark;
  Mark key_mark;
  std::vector<Mark> server_name_marks;  // parallel to server_names

  friend bool operator==(const ServerCertificate&, const ServerCertificate&) = default;
};

enum class TlsVersion : std::uint8_t { Tls12, Tls13 };
// off: no certificate is asked for; optional: asked for, and a connection without one (or
// with one that does not verify) is still served; required: the handshake fails without a
// certificate that verifies against client_ca_file.
enum class ClientCertMode : std::uint8_t { Off, Optional, Required };

struct ListenerTlsConfig {
  std::vector<ServerCertificate> certificates;  // the first is the default
  TlsVersion min_version = TlsVersion::Tls12;
  std::string client_ca_file;  // absolute; empty: none
  std::string client_ca_pem;
  ClientCertMode client_cert = ClientCertMode::Off;
  unsigned session_timeout_s = 300;  // resumption: how long a session is kept
  Mark mark;                         // `tls:`
  Mark client_ca_mark;
  Mark client_cert_mark;

  bool asks_for_client_cert() const { return client_cert != ClientCertMode::Off; }
  friend bool operator==(const ListenerTlsConfig&, const ListenerTlsConfig&) = default;
};

// Where a client certificate's identity (X-Client-Id) comes from, in order of preference.
enum class CertIdentitySource : std::uint8_t { SanUri, SanDns, SubjectCn };

struct ClientCertConfig {
  std::vector<CertIdentitySource> client_id_from{
      CertIdentitySource::SanUri, CertIdentitySource::SanDns, CertIdentitySource::SubjectCn};
  Mark mark;  // the section, or no position when it is absent
  friend bool operator==(const ClientCertConfig&, const ClientCertConfig&) = default;
};

}  // namespace portcullis::config
