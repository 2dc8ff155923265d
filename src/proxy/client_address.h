// The client's address behind load balancers (server.trusted_proxies). X-Forwarded-For is
// believed only when the connection's peer is a trusted proxy, and then read from the right:
// each trusted hop vouches for the one before it, and the first hop that is not trusted is
// the client. A malformed hop stops the walk at the trusted hop that wrote it, so the answer
// is always an address the gateway parsed, never a string a client chose.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ip/cidr.h"

namespace portcullis::proxy {

struct ClientAddress {
  std::string ip;             // the address the gateway acts on (access log, key CIDRs)
  bool peer_trusted = false;  // the peer's X-Forwarded-* headers are believed and passed on
};

// `peer`: the connection's peer as text (the TCP peer, or the PROXY protocol header's source).
// `forwarded_for`: the request's X-Forwarded-For lines joined with ',' (empty when none).
// Hops are bare IPv4 or IPv6 addresses with optional spaces or tabs around them; anything
// else (a port, "unknown", an empty item) is malformed. When every hop is trusted, the
// leftmost is the client.
ClientAddress resolve_client_address(std::string_view peer, std::string_view forwarded_for,
                                     const std::vector<ip::Cidr>& trusted);

}  // namespace portcullis::proxy
