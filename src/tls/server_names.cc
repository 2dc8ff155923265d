#include "tls/server_names.h"

namespace portcullis::tls {
namespace {

// RFC 1035: a name is at most 253 characters (255 octets on the wire).
constexpr std::size_t kMaxName = 253;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

void ServerNames::add(std::string_view pattern, std::size_t certificate) {
  if (pattern.starts_with("*.")) {
    wildcard_.emplace(lower(pattern.substr(2)), certificate);
  } else {
    exact_.emplace(lower(pattern), certificate);
  }
}

std::string canonical_server_name(std::string_view host) {
  // RFC 6066 §3 sends the name without a trailing dot; a client that adds one means the same.
  if (host.ends_with('.')) host.remove_suffix(1);
  return lower(host);
}

std::size_t ServerNames::find(std::string_view host) const {
  if (host.empty() || host.size() > kMaxName + 1) return 0;
  const std::string name = canonical_server_name(host);
  if (name.empty() || name.size() > kMaxName) return 0;
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  const std::size_t dot = name.find('.');
  // The wildcard stands for one whole, non-empty label.
  if (dot == 0 || dot == std::string::npos || dot + 1 == name.size()) return 0;
  if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
  return 0;
}

std::string_view sni_host_name(const unsigned char* ext, std::size_t size) {
  if (ext == nullptr || size < 2) return {};
  const std::size_t list = (std::size_t{ext[0]} << 8) | ext[1];
  if (list != size - 2) return {};
  const unsigned char* p = ext + 2;
  std::size_t n = list;
  while (n >= 3) {
    const unsigned char type = p[0];
    const std::size_t len = (std::size_t{p[1]} << 8) | p[2];
    if (len > n - 3) return {};
    if (type == 0) return {reinterpret_cast<const char*>(p + 3), len};  // host_name
    p += 3 + len;
    n -= 3 + len;
  }
  return {};
}

}  // namespace portcullis::tls
