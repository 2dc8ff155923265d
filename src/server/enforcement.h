// Shadow mode's one decision: what becomes of a refusal on a route, given its `enforcement`.
// The session asks would_refuse() at the one point where a verdict on the caller is turned
// into an answer (HttpSession::Impl::shadow_pass); an enforcing route answers the refusal
// through reject(), a shadow route forwards the request and records what it would have
// answered (docs/shadow-mode.md). Which identity is then forwarded does not depend on the
// verdict: only one the route's mechanism accepted (forwards_identity).
#pragma once

#include "config/config.h"
#include "server/gateway_error.h"

namespace portcullis::server {

// True when the request goes on instead of being answered with `refusal`. Enforce: never.
// Shadow: every verdict on the caller (Refusal::caller_verdict: the authentication and policy
// refusals, an identity provider or key store that cannot answer, a rate limit's 429).
// Everything else the gateway refuses (a malformed request, no route, a body too large, an
// upstream failure) is answered in either mode.
bool would_refuse(config::Enforcement mode, const Refusal& refusal);

// Whether the identity of a forwarded request goes upstream (identity headers, and
// Authorization where the route forwards it): on an authenticated route only when its
// mechanism accepted the credential. A shadow route forwards requests whose credential was
// refused, missing or could not be checked: those go up without identity. A valid credential
// that only the route's policy (or a rate limit) refuses keeps its identity.
inline bool forwards_identity(bool route_authenticates, bool credential_accepted) {
  return !route_authenticates || credential_accepted;
}

}  // namespace portcullis::server
