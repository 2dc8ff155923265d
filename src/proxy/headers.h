// Header rules for proxying: hop-by-hop headers (RFC 9110 §7.6.1) are removed in both
// directions, and the X-Forwarded-* family is set on the way up.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace portcullis::proxy {

// Removes Connection, the headers it names, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-Authenticate and Proxy-Authorization. Message framing
// (chunked) is re-applied by the serializer, not copied.
void remove_hop_by_hop(boost::beast::http::fields& headers);

// X-Forwarded-For gets the client address appended; X-Forwarded-Proto and X-Forwarded-Host
// are replaced.
void set_forwarded(boost::beast::http::fields& headers, std::string_view client_ip,
                   std::string_view proto, std::string_view original_host);

}  // namespace portcullis::proxy
