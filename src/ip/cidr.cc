#include "ip/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "common/concat.h"

namespace portcullis::ip {

namespace {

// "'TEXT'" then `rest`.
std::string quoted(std::string_view text, std::string_view rest) {
  return concat({"'", text, "'", rest});
}

}  // namespace

bool parse_ip(std::string_view text, IpBytes& out) {
  // A zone ("%eth0") names an interface, not part of the address.
  if (auto pct = text.find('%'); pct != std::string_view::npos) text = text.substr(0, pct);
  // inet_pton reads up to a NUL: "10.0.0.1\0junk" must not pass as 10.0.0.1.
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) return false;
  char buf[46];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  if (text.find(':') == std::string_view::npos) {
    in_addr a4;
    if (inet_pton(AF_INET, buf, &a4) != 1) return false;
    out.fill(0);
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out.data() + 12, &a4, 4);
    return true;
  }
  in6_addr a6;
  if (inet_pton(AF_INET6, buf, &a6) != 1) return false;
  std::memcpy(out.data(), &a6, 16);
  return true;
}

bool parse_cidr(std::string_view text, Cidr& out, std::string& error) {
  const std::string_view original = text;
  std::string_view addr = text, len;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    len = text.substr(slash + 1);
  }
  if (addr.find('%') != std::string_view::npos) {
    error = quoted(original, ": a CIDR block cannot name a zone");
    return false;
  }
  Cidr c;
  c.v4 = addr.find(':') == std::string_view::npos;
  if (!parse_ip(addr, c.addr)) {
    error = quoted(original, " is not an IPv4 or IPv6 address or CIDR block");
    return false;
  }
  const unsigned max = c.v4 ? 32 : 128;
  unsigned bits = max;
  if (!len.empty() || text.find('/') != std::string_view::npos) {
    auto [ptr, ec] = std::from_chars(len.data(), len.data() + len.size(), bits);
    if (len.empty() || ec != std::errc() || ptr != len.data() + len.size() || bits > max) {
      error = quoted(original, ": the prefix length must be 0..");
      error += std::to_string(max);
      return false;
    }
  }
  c.bits = static_cast<std::uint8_t>(c.v4 ? 96 + bits : bits);
  for (unsigned i = c.bits; i < 128; ++i) {
    if (c.addr[i / 8] & (0x80u >> (i % 8))) {
      Cidr fixed = c;
      for (unsigned j = c.bits; j < 128; ++j) fixed.addr[j / 8] &= ~(0x80u >> (j % 8));
      error = quoted(original, " has host bits set (did you mean ");
      error += to_string(fixed);
      error += "?)";
      return false;
    }
  }
  out = c;
  return true;
}

bool contains(const Cidr& block, const IpBytes& addr) {
  const unsigned full = block.bits / 8;
  if (std::memcmp(block.addr.data(), addr.data(), full) != 0) return false;
  const unsigned rest = block.bits % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xff00u >> rest);
  return (block.addr[full] & mask) == (addr[full] & mask);
}

bool any_contains(const std::vector<Cidr>& blocks, const IpBytes& addr) {
  for (const auto& b : blocks) {
    if (contains(b, addr)) return true;
  }
  return false;
}

std::string to_string(const IpBytes& addr) {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN];
  if (std::memcmp(addr.data(), kMapped, sizeof kMapped) == 0) {
    inet_ntop(AF_INET, addr.data() + 12, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, addr.data(), buf, sizeof buf);
  }
  return buf;
}

std::string to_string(const Cidr& block) {
  char buf[INET6_ADDRSTRLEN];
  if (block.v4) {
    inet_ntop(AF_INET, block.addr.data() + 12, buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(block.bits - 96);
  }
  inet_ntop(AF_INET6, block.addr.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(block.bits);
}

}  // namespace portcullis::ip
