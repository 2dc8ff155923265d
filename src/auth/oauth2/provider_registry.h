// Where the oauth2 mechanism gets its HTTP transport and its providers. The gateway sets
// the transport once at start (an adapter to its HTTP client); providers are reused across
// reloads while their settings are unchanged, so a reload keeps the cache and the breaker.
#pragma once

#include <memory>

#include "auth/oauth2/transport.h"

namespace portcullis::auth::oauth2 {

// The transport new providers use: the gateway's HTTP client unless set (tests).
void set_default_transport(std::shared_ptr<IntrospectionTransport> transport);
std::shared_ptr<IntrospectionTransport> default_transport();

}  // namespace portcullis::auth::oauth2
