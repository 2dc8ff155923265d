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

std::size_t ServerNames::find(std::string_view host) const {
  // RFC 6066 §3 sends the name without a trailing dot; a client that adds one means the same.
  if (host.ends_with('.')) host.remove_suffix(1);
  if (host.empty() || host.size() > kMaxName) return 0;
  const std::string name = lower(host);
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  const std::size_t dot = name.find('.');
  // The wildcard stands for one whole, non-empty label.
  if (dot == 0 || dot == std::string::npos || dot + 1 == name.size()) return 0;
  if (auto it = wildcard_.find(name.substr(dot + 1)); it != wildcard_.end()) return it->second;
  return 0;
}

}  // namespace portcullis::tls
