// Forwarder: the one place that turns an Identity into upstream headers. It runs after the
// sanitizer, so every identity header the upstream sees was written here.
//
// The identity headers are rendered as ready header lines that the head writer appends to
// the upstream request (no per-header allocation in the request's field container); the
// request's own fields only lose Authorization and get the request id.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>

#include "config/config.h"
#include "identity/identity.h"

namespace portcullis::identity {

struct ForwardOptions {
  bool forward_authorization = false;
};

// Precondition: the Sanitizer has run on `headers`, so no inbound identity header is left.
// Drops Authorization unless the route forwards it and any inbound request id, and appends the
// identity header lines ("Name: value\r\n" each, empty values left out), then the request id
// line, to `lines`, which the caller writes after the request's fields. Returns false, having written nothing, when a
// value holds a control character (the request must then not be forwarded).
[[nodiscard]] bool forward_identity(boost::beast::http::fields& headers, std::string& lines,
                      const Identity& id, const config::IdentityHeaders& names,
                      std::string_view request_id, const ForwardOptions& options);

}  // namespace portcullis::identity
