// Forwarder: the one place that turns an Identity into upstream headers. It runs after the
// sanitizer, so every identity header the upstream sees was set here.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

#include "config/config.h"
#include "identity/identity.h"

namespace portcullis::identity {

struct ForwardOptions {
  bool forward_authorization = false;
};

// Precondition: the Sanitizer has run on `headers` (identity headers are inserted, not set).
void forward_identity(boost::beast::http::fields& headers, const Identity& id,
                      const config::IdentityHeaders& names, std::string_view request_id,
                      const ForwardOptions& options);

}  // namespace portcullis::identity
