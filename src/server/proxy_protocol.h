// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that a layer-4
// load balancer writes at the start of a connection to name the client it accepted.
// Pure: no I/O, unit-tested (tests/unit/core/proxy_protocol_test.cc) and fuzzed
// (tests/fuzz/proxy_protocol_fuzz.cc). The session reads with it (http_session.cc).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::server {

// A v1 header is at most 107 bytes; a v2 header (16 bytes, addresses and TLVs) longer than
// this is refused rather than buffered.
inline constexpr std::size_t kMaxProxyHeaderBytes = 4096;

enum class ProxyHeaderStatus {
  Done,        // a whole header: `length` bytes, then the connection's own bytes
  Incomplete,  // a prefix of a header that is fine so far: read more (fewer than the maximum)
  NotProxy,    // does not start with "PROXY " or the v2 signature
  Malformed,   // starts like one but breaks the grammar (address, port, family, TLVs, CRLF)
  TooLong,     // v1 without its CRLF within 107 bytes; v2 longer than kMaxProxyHeaderBytes
};

// snake_case, for the log and portcullis_proxy_protocol_errors_total{reason}.
std::string_view reason(ProxyHeaderStatus s);

struct ProxyHeader {
  ProxyHeaderStatus status = ProxyHeaderStatus::Incomplete;
  std::size_t length = 0;  // bytes of the header (Done)
  // The client's address, printed the usual way ("10.1.2.3", "2001:db8::1"). Empty when the
  // header names none (v1 UNKNOWN, v2 LOCAL, v2 UNSPEC/UNIX/UDP): the TCP peer stands.
  std::string source;
};

// Reads the header at the start of `bytes`. Invalid bytes are refused as soon as they
// arrive (a request line fails at its second byte), not when the maximum is reached.
ProxyHeader parse_proxy_header(std::string_view bytes);

}  // namespace portcullis::server
