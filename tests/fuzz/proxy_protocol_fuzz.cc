// Fuzzes the PROXY protocol header parser (server/proxy_protocol.h) as the session reads with
// it: whatever the bytes, the answer stays inside them, a header found is found the same in
// its own bytes and its prefixes are incomplete, and the address it names parses.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "ip/cidr.h"
#include "server/proxy_protocol.h"

using namespace portcullis;
using server::ProxyHeaderStatus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const server::ProxyHeader h = server::parse_proxy_header(input);
  // The session reads more only while fewer than the maximum bytes are buffered.
  if (h.status == ProxyHeaderStatus::Incomplete && size >= server::kMaxProxyHeaderBytes) {
    __builtin_trap();
  }
  if (h.status != ProxyHeaderStatus::Done) return 0;
  if (h.length == 0 || h.length > size || h.length > server::kMaxProxyHeaderBytes) {
    __builtin_trap();
  }
  const std::string_view header = input.substr(0, h.length);
  const server::ProxyHeader again = server::parse_proxy_header(header);
  if (again.status != ProxyHeaderStatus::Done || again.length != h.length ||
      again.source != h.source) {
    __builtin_trap();
  }
  // Split delivery: one byte short is never taken for a (shorter) header or refused.
  if (server::parse_proxy_header(header.substr(0, h.length - 1)).status !=
      ProxyHeaderStatus::Incomplete) {
    __builtin_trap();
  }
  ip::IpBytes addr;
  if (!h.source.empty() && !ip::parse_ip(h.source, addr)) __builtin_trap();
  return 0;
}
