#include "server/proxy_protocol.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/enum_names.h"
#include "ip/cidr.h"

namespace portcullis::server {

namespace {

using S = ProxyHeaderStatus;

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV1Max = 107;  // "PROXY TCP6 <39> <39> 65535 65535\r\n"
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr std::size_t kV2Head = 16;  // signature, version and command, family, length

ProxyHeader only(S s) {
  return ProxyHeader{s, 0, {}};
}

std::uint8_t byte(std::string_view s, std::size_t i) {
  return static_cast<std::uint8_t>(s[i]);
}

// Whether `bytes` starts with `prefix`, or with a part of it when shorter.
bool starts_like(std::string_view bytes, std::string_view prefix) {
  const std::size_t n = std::min(bytes.size(), prefix.size());
  return bytes.substr(0, n) == prefix.substr(0, n);
}

// Decimal 0..65535 without a leading zero (the specification's rule).
bool valid_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || (s.size() > 1 && s[0] == '0')) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v <= 65535;
}

// An address of the family the line names, without a zone.
bool parse_address(std::string_view s, bool v6, ip::IpBytes& out) {
  const bool has_colon = s.find(':') != std::string_view::npos;
  return has_colon == v6 && s.find('%') == std::string_view::npos && ip::parse_ip(s, out);
}

// "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" (single spaces), or "PROXY UNKNOWN...\r\n".
ProxyHeader parse_v1(std::string_view bytes) {
  const std::size_t lf = bytes.substr(0, kV1Max).find('\n');
  if (lf == std::string_view::npos)
    return only(bytes.size() >= kV1Max ? S::TooLong : S::Incomplete);
  if (bytes[lf - 1] != '\r') return only(S::Malformed);
  std::string_view line = bytes.substr(kV1Prefix.size(), lf - 1 - kV1Prefix.size());
  ProxyHeader h{S::Done, lf + 1, {}};
  // The balancer could not tell the client (the specification: ignore the rest of the line).
  if (line == "UNKNOWN" || line.starts_with("UNKNOWN ")) return h;
  std::string_view field[5];
  std::size_t n = 0;
  for (;;) {
    if (n == 5) return only(S::Malformed);
    const std::size_t sp = line.find(' ');
    field[n++] = line.substr(0, sp);
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  const bool v6 = field[0] == "TCP6";
  if (n != 5 || (!v6 && field[0] != "TCP4")) return only(S::Malformed);
  ip::IpBytes src, dst;
  if (!parse_address(field[1], v6, src) || !parse_address(field[2], v6, dst) ||
      !valid_port(field[3]) || !valid_port(field[4])) {
    return only(S::Malformed);
  }
  h.source = ip::to_string(src);
  return h;
}

// Type, 16-bit length, value: they must fill the rest exactly. Their contents are ignored.
bool valid_tlvs(std::string_view rest) {
  while (!rest.empty()) {
    if (rest.size() < 3) return false;
    const std::size_t len = std::size_t{byte(rest, 1)} << 8 | byte(rest, 2);
    if (rest.size() - 3 < len) return false;
    rest.remove_prefix(3 + len);
  }
  return true;
}

// The address block's size for a family/transport byte; false for a value the
// specification does not define.
bool address_block(std::uint8_t family, std::size_t& size) {
  switch (family) {
    case 0x00:  // UNSPEC
      size = 0;
      return true;
    case 0x11:  // TCP over IPv4
    case 0x12:  // UDP over IPv4
      size = 12;
      return true;
    case 0x21:  // TCP over IPv6
    case 0x22:  // UDP over IPv6
      size = 36;
      return true;
    case 0x31:  // UNIX stream
    case 0x32:  // UNIX datagram
      size = 216;
      return true;
    default:
      return false;
  }
}

ProxyHeader parse_v2(std::string_view bytes) {
  if (bytes.size() < kV2Head) return only(S::Incomplete);
  const std::uint8_t version_command = byte(bytes, 12), family = byte(bytes, 13);
  const std::size_t total = kV2Head + (std::size_t{byte(bytes, 14)} << 8 | byte(bytes, 15));
  if ((version_command >> 4) != 2 || (version_command & 0x0f) > 1) return only(S::Malformed);
  if (total > kMaxProxyHeaderBytes) return only(S::TooLong);
  if (bytes.size() < total) return only(S::Incomplete);
  ProxyHeader h{S::Done, total, {}};
  // LOCAL: the balancer's own connection (a health check); the block is ignored.
  if ((version_command & 0x0f) == 0) return h;
  std::size_t block = 0;
  if (!address_block(family, block) || total - kV2Head < block ||
      !valid_tlvs(bytes.substr(kV2Head + block, total - kV2Head - block))) {
    return only(S::Malformed);
  }
  // Only TCP names a client of this listener; otherwise the TCP peer stands.
  ip::IpBytes src{};
  if (family == 0x11) {
    src[10] = src[11] = 0xff;
    std::memcpy(src.data() + 12, bytes.data() + kV2Head, 4);
    h.source = ip::to_string(src);
  } else if (family == 0x21) {
    std::memcpy(src.data(), bytes.data() + kV2Head, 16);
    h.source = ip::to_string(src);
  }
  return h;
}

}  // namespace

std::string_view reason(ProxyHeaderStatus s) {
  static constexpr EnumName<ProxyHeaderStatus> kReasons[] = {{S::Done, "ok"},
                                                             {S::Incomplete, "incomplete"},
                                                             {S::NotProxy, "not_proxy_protocol"},
                                                             {S::Malformed, "malformed"},
                                                             {S::TooLong, "too_long"}};
  return name_of(kReasons, s, "malformed");
}

ProxyHeader parse_proxy_header(std::string_view bytes) {
  if (bytes.empty()) return only(S::Incomplete);
  if (starts_like(bytes, kV2Signature)) return parse_v2(bytes);
  if (starts_like(bytes, kV1Prefix)) return parse_v1(bytes);
  return only(S::NotProxy);
}

}  // namespace portcullis::server
