// The framing check: after Beast has parsed a request head, refuse what two parsers could
// read differently (RFC 9112 §6.3), so the upstream never frames a request otherwise than the
// gateway did. Pure: no I/O, unit-tested on its own (tests/unit/core/framing_test.cc).
#pragma once

#include <boost/beast/http/fields.hpp>
#include <optional>
#include <string_view>

#include "server/gateway_error.h"
#include "server/header_block.h"

namespace portcullis::server {

// `version`: 10 or 11 as Beast reports it. nullopt when the head may be forwarded.
std::optional<GatewayError> check_framing(const boost::beast::http::fields& headers,
                                          unsigned version);

// Whether a Host value is host[:port] (a name or a bracketed IP literal): no userinfo, quotes,
// backslashes, path or spaces. check_framing refuses any other; the access log writes no other.
bool valid_host(std::string_view h);

// The refusal for a lexical defect found by check_head() (never called with Ok).
GatewayError to_error(HeadCheck c);

}  // namespace portcullis::server
