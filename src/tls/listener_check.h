// What `portcullis check`, `run` and a reload report about server.tls, at the positions the
// config kept (config/listener_tls_config.h): certificates and keys that cannot be read, a
// key that does not match its certificate, a client CA file without certificates, and
// anything else OpenSSL refuses when building the contexts (errors); a certificate that
// expires within 14 days, has expired or is not valid yet, and a certificate that no server
// name can reach (warnings).
#pragma once

#include <ctime>

#include "config/config.h"
#include "config/diagnostics.h"

namespace portcullis::tls {

inline constexpr std::time_t kExpiryWarning = 14 * 24 * 3600;

void check_listener_tls(const config::Config& config, config::Diagnostics& out,
                        std::time_t now = std::time(nullptr));

}  // namespace portcullis::tls
