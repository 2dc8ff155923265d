// Shadow mode's one decision: what becomes of a refusal on a route, given its `enforcement`.
// The session asks would_refuse() at the one point where a verdict on the caller is turned
// into an answer (HttpSession::Impl::shadow_pass); an enforcing route answers the refusal
// through reject(), a shadow route forwards the request and records what it would have
// answered (docs/shadow-mode.md).
#pragma once

#include "config/config.h"
#include "server/gateway_error.h"

namespace portcullis::server {

struct ShadowVerdict {
  bool forward = false;  // forward the request instead of answering the refusal
  // Forward the identity the credential proved. False: no identity header and no
  // Authorization reach the upstream (the inbound copies are stripped as always).
  bool with_identity = false;
};

// `credential_accepted`: the route's mechanism accepted the credential (the refusal comes
// from the route's policy, or from a limit applied after authentication).
//
// Enforce: never forward. Shadow: forward every verdict on the caller (Refusal::caller_verdict:
// the authentication and policy refusals, an identity provider or key store that cannot
// answer; a rate limit's 429 once it exists), with the identity only when the credential was
// accepted. Everything else the gateway refuses (a malformed request, no route, a body too
// large, an upstream failure) is answered in either mode.
ShadowVerdict would_refuse(config::Enforcement mode, const Refusal& refusal,
                           bool credential_accepted);

}  // namespace portcullis::server
