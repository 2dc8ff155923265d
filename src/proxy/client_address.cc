#include "proxy/client_address.h"

namespace portcullis::proxy {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// A zone ("%eth0") is accepted by ip::parse_ip for peers the server prints; a forwarded hop
// is a plain address.
bool parse_hop(std::string_view hop, ip::IpBytes& out) {
  return hop.find('%') == std::string_view::npos && ip::parse_ip(hop, out);
}

}  // namespace

ClientAddress resolve_client_address(std::string_view peer, std::string_view forwarded_for,
                                     const std::vector<ip::Cidr>& trusted) {
  ClientAddress out{std::string(peer), false};
  ip::IpBytes addr;
  if (trusted.empty() || !ip::parse_ip(peer, addr) || !ip::any_contains(trusted, addr)) {
    return out;
  }
  out.peer_trusted = true;
  std::string_view rest = forwarded_for;
  bool more = !rest.empty();
  while (more) {
    const std::size_t comma = rest.rfind(',');
    more = comma != std::string_view::npos;
    const std::string_view hop = trim(more ? rest.substr(comma + 1) : rest);
    if (more) rest = rest.substr(0, comma);
    if (!parse_hop(hop, addr)) break;  // the trusted hop that wrote it is the last word
    out.ip = ip::to_string(addr);
    if (!ip::any_contains(trusted, addr)) break;
  }
  return out;
}

}  // namespace portcullis::proxy
