#include "identity/identity.h"

#include <algorithm>

namespace portcullis::identity {

bool Identity::has_scope(std::string_view scope) const {
  return std::find(scopes.begin(), scopes.end(), scope) != scopes.end();
}

bool Identity::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

bool has_control(std::string_view s) {
  unsigned char bad = 0;  // no early exit: identity values are short, the loop is branch-free
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    bad |= static_cast<unsigned char>((u < 0x20) | (u == 0x7f));
  }
  return bad != 0;
}

bool Identity::header_safe() const {
  auto clean = [](const std::vector<std::string>& items) {
    for (const auto& s : items) {
      if (has_control(s)) return false;
    }
    return true;
  };
  // No identity (an auth: none route): nothing to look at.
  if (subject.empty() && client_id.empty() && auth_method.empty() && cert_thumbprint.empty() &&
      scopes.empty() && roles.empty() && extra_headers.empty()) {
    return true;
  }
  if (has_control(subject) || has_control(client_id) || has_control(auth_method) ||
      has_control(cert_thumbprint)) {
    return false;
  }
  if (!clean(scopes) || !clean(roles)) return false;
  return std::none_of(extra_headers.begin(), extra_headers.end(),
                      [](const auto& h) { return has_control(h.second); });
}

std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    std::size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string join(const std::vector<std::string>& items, char sep) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out.push_back(sep);
    out += s;
  }
  return out;
}

}  // namespace portcullis::identity
