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

class ContextSigner;

struct ForwardOptions {
  bool forward_authorization = false;
  // identity.signed_context, when configured: its token header is written too, for the
  // upstream named `audience`.
  const ContextSigner* signer = nullptr;
  std::string_view audience;
  // The caller already dropped Authorization (unless forwarded) and any inbound request id
  // while it walked the fields (proxy::rewrite_request_head): not looked for again.
  bool fields_dropped = false;
  // The identity is one that serves many requests (a connection's credential memo): its
  // lines are taken from `rendered` when they were rendered for `runtime_id`, and kept
  // there when they are rendered now. The caller empties `rendered` when the identity
  // changes (auth::CredentialMemo::set_identity).
  RenderedIdentity* rendered = nullptr;
  std::uint64_t runtime_id = 0;
};

// Precondition: the Sanitizer has run on `headers`, so no inbound identity header is left.
// Drops Authorization unless the route forwards it and any inbound request id, and appends the
// identity header lines ("Name: value\r\n" each, empty values left out), then the request id
// line, and the signed context's line when options.signer signs this identity, to `lines`,
// which the caller writes after the request's fields. Returns false when a value holds a
// control character or the context cannot be signed (the request must then not be
// forwarded).
[[nodiscard]] bool forward_identity(boost::beast::http::fields& headers, std::string& lines,
                                    const Identity& id, const config::IdentityHeaders& names,
                                    std::string_view request_id, const ForwardOptions& options);

}  // namespace portcullis::identity
