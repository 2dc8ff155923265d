// IP addresses and CIDR blocks (an API key's source restriction, server.trusted_proxies).
// Addresses are compared as 16 bytes, IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so a client
// that reaches a dual-stack listener as ::ffff:10.1.2.3 matches 10.0.0.0/8 like one that
// reaches an IPv4 listener as 10.1.2.3.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::ip {

using IpBytes = std::array<std::uint8_t, 16>;

struct Cidr {
  IpBytes addr{};         // network address, host bits zero
  std::uint8_t bits = 0;  // prefix length in the 128-bit space (IPv4 /n is 96 + n)
  bool v4 = false;        // written as IPv4
};

// "10.0.0.0/8", "2001:db8::/32", or a single address ("10.1.2.3", "::1"). Host bits set
// after the prefix ("10.0.0.1/8") are refused: they are usually a typo.
bool parse_cidr(std::string_view text, Cidr& out, std::string& error);
// An address as the server prints it: "10.1.2.3", "::1", "::ffff:10.1.2.3", "fe80::1%eth0".
bool parse_ip(std::string_view text, IpBytes& out);
bool contains(const Cidr& block, const IpBytes& addr);
bool any_contains(const std::vector<Cidr>& blocks, const IpBytes& addr);
std::string to_string(const Cidr& block);
// The address as text: dotted quad for an IPv4 (or IPv4-mapped) address, else RFC 5952.
std::string to_string(const IpBytes& addr);

}  // namespace portcullis::ip
