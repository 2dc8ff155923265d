// Which of the listener's certificates answers a TLS server name (SNI): an exact name first,
// then a "*.example.com" wildcard, which covers exactly one label (a.example.com, not
// example.com nor a.b.example.com); anything else, or no SNI at all, gets the first
// certificate. Names compare case-insensitively. Pure: the handshake's callback asks it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portcullis::tls {

class ServerNames {
 public:
  // `pattern`: a DNS name or "*." and one. The first certificate to add a name keeps it.
  void add(std::string_view pattern, std::size_t certificate);
  // The certificate for `host` as the client sent it; 0 (the default) when none matches.
  std::size_t find(std::string_view host) const;
  bool empty() const { return exact_.empty() && wildcard_.empty(); }

 private:
  std::unordered_map<std::string, std::size_t> exact_;
  std::unordered_map<std::string, std::size_t> wildcard_;  // keyed by what follows "*."
};

// The first host_name in the bytes of a ClientHello's server_name extension (RFC 6066 §3: a
// two-byte list length, then entries of a one-byte name type, a two-byte length and the
// name); empty when there is none or the bytes are malformed (OpenSSL refuses a malformed
// extension itself).
std::string_view sni_host_name(const unsigned char* ext, std::size_t size);

// A server name as the certificate choice compares it: lower-cased, without a trailing dot.
std::string canonical_server_name(std::string_view host);

}  // namespace portcullis::tls
