// What the config loader leaves to OpenSSL about the gateway's TLS client settings (upstreams
// and identity providers): that ca_file holds certificates, that client_cert_file and
// client_key_file can be read and belong together, and a warning for a client certificate
// that has expired or expires within 14 days. Reported at the positions the config kept, so
// `portcullis check`, `run` and a reload print FILE:LINE:COL (runtime::check_mechanism_configs).
#pragma once

#include "config/config.h"
#include "config/diagnostics.h"

namespace portcullis::tls {

void check_client_config(const config::TlsClientConfig& tls, const std::string& where,
                         config::Diagnostics& out);

// Every https upstream and every identity provider of the config.
void check_client_configs(const config::Config& config, config::Diagnostics& out);

}  // namespace portcullis::tls
